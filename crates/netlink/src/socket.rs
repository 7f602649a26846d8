//! One rtnetlink socket, bound to the namespace it was created in, and the
//! request/ack/dump primitives every operation is built on.

use crate::{Error, Netns};
use futures_channel::mpsc::UnboundedReceiver;
use futures_util::StreamExt;
use netlink_packet_core::{NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::sys::{AsyncSocket, SocketAddr};

pub(crate) type Events = UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>;

/// RTNLGRP_LINK: link state changes, for waiting on a link instead of sleeping.
const RTNLGRP_LINK: u32 = 1;
/// How often a dump interrupted by a concurrent change is retried (as the Go plugins do).
const DUMP_RETRIES: usize = 5;

/// A socket subscribed to link events in the calling thread's namespace,
/// alive for one wait; dropping it closes the socket.
pub(crate) struct LinkEvents {
    pub events: Events,
    _handle: rtnetlink::Handle,
    task: tokio::task::JoinHandle<()>,
}

impl LinkEvents {
    pub(crate) fn subscribe() -> Result<LinkEvents, Error> {
        let (mut conn, handle, events) = rtnetlink::new_connection()
            .map_err(|e| Error::Io { what: "opening a netlink socket".into(), source: e })?;
        let socket = conn.socket_mut().socket_mut();
        // The kernel's own events (a carrier change seen by linkwatch) carry
        // port id 0 as their sender, and multicast skips the sender's port id:
        // an unbound socket has port id 0 too and would miss exactly those.
        // This socket never sends, so nothing would bind it otherwise.
        socket.bind_auto().map_err(|e| Error::Io { what: "binding the link-event socket".into(), source: e })?;
        socket
            .add_membership(RTNLGRP_LINK)
            .map_err(|e| Error::Io { what: "subscribing to link events".into(), source: e })?;
        Ok(LinkEvents { events, _handle: handle, task: tokio::spawn(conn) })
    }
}

impl Drop for LinkEvents {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub struct Netlink {
    handle: rtnetlink::Handle,
    ns: String,
    /// Inode of the namespace the socket is bound in.
    ns_ino: u64,
}

/// The inode of the calling thread's network namespace.
fn current_ns_ino() -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/thread-self/ns/net").map(|m| m.ino()).unwrap_or(0)
}

impl Netlink {
    /// A socket in the calling thread's current namespace. Must be called
    /// inside a tokio runtime, which drives the socket.
    ///
    /// It joins no multicast group: under a storm of link changes (64 pods
    /// starting at once) events would fill its receive buffer while the
    /// thread is busy elsewhere, and the kernel then drops the ack of the
    /// next request, which would wait for it forever. [`LinkEvents`] is a
    /// separate socket for the one wait that needs events.
    pub fn connect() -> Result<Netlink, Error> {
        let (conn, handle, _) = rtnetlink::new_connection()
            .map_err(|e| Error::Io { what: "opening a netlink socket".into(), source: e })?;
        tokio::spawn(conn);
        let ns = std::fs::read_link("/proc/thread-self/ns/net").map(|p| p.display().to_string()).unwrap_or_default();
        Ok(Netlink { handle, ns, ns_ino: current_ns_ino() })
    }

    /// A socket bound in `ns`. The thread enters `ns` only to create the
    /// socket and comes straight back to `home`; the socket stays in `ns`.
    pub fn connect_in(ns: &Netns, home: &Netns) -> Result<Netlink, Error> {
        let mut nl = ns.run(home, Netlink::connect)??;
        nl.ns = ns.path().to_string();
        Ok(nl)
    }

    /// Link events of this socket's namespace, from now on. Only possible
    /// while the calling thread is in that namespace (the host's, in practice).
    pub(crate) fn link_events(&self) -> Result<LinkEvents, Error> {
        if current_ns_ino() != self.ns_ino {
            return Err(Error::Netlink {
                op: "subscribing to link events".into(),
                msg: format!("the thread is not in {}", self.ns),
            });
        }
        LinkEvents::subscribe()
    }

    /// Send one request and collect its replies. Errors carry `op` and the errno.
    pub(crate) async fn request(
        &self,
        msg: RouteNetlinkMessage,
        flags: u16,
        op: &str,
    ) -> Result<(Vec<RouteNetlinkMessage>, bool), Error> {
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = NLM_F_REQUEST | flags;
        let mut handle = self.handle.clone();
        let mut replies = handle
            .request(req)
            .map_err(|e| Error::Netlink { op: format!("{op} (in {})", self.ns), msg: e.to_string() })?;
        let mut out = Vec::new();
        let mut interrupted = false;
        let mut failed = None;
        while let Some(reply) = replies.next().await {
            interrupted |= reply.header.flags & NLM_F_DUMP_INTR != 0;
            match reply.payload {
                NetlinkPayload::InnerMessage(m) => out.push(m),
                NetlinkPayload::Error(e) => {
                    // An error message without a code is the kernel's ack.
                    if let Some(code) = e.code {
                        failed = Some(Error::Kernel { op: op.to_string(), errno: -code.get() });
                        break;
                    }
                }
                _ => {}
            }
        }
        // A kill point for the fault tests: the kernel has done (or refused) the request.
        crate::fault::step(op);
        match failed {
            Some(e) => Err(e),
            None => Ok((out, interrupted)),
        }
    }

    /// A request whose only answer is an ack (create, change, delete).
    pub(crate) async fn ack(&self, msg: RouteNetlinkMessage, flags: u16, op: &str) -> Result<(), Error> {
        self.request(msg, flags | NLM_F_ACK, op).await.map(|_| ())
    }

    /// A dump, keeping the replies `pick` turns into values.
    pub(crate) async fn dump_map<T>(
        &self,
        msg: RouteNetlinkMessage,
        op: &str,
        pick: impl FnMut(RouteNetlinkMessage) -> Option<T>,
    ) -> Result<Vec<T>, Error> {
        Ok(self.dump(msg, op).await?.into_iter().filter_map(pick).collect())
    }

    /// A dump, retried while the kernel reports it was interrupted by a change.
    pub(crate) async fn dump(&self, msg: RouteNetlinkMessage, op: &str) -> Result<Vec<RouteNetlinkMessage>, Error> {
        for _ in 0..DUMP_RETRIES {
            let (out, interrupted) = self.request(msg.clone(), NLM_F_DUMP, op).await?;
            if !interrupted {
                return Ok(out);
            }
            tracing::debug!(op, "dump interrupted by a concurrent change; retrying");
        }
        Err(Error::Netlink { op: op.to_string(), msg: format!("dump interrupted {DUMP_RETRIES} times in a row") })
    }
}

/// Run `fut` on a fresh single-threaded runtime, the one railcni plugins use:
/// `setns` affects only the calling thread, so everything stays on this one.
pub fn block_on<F: std::future::Future>(fut: F) -> Result<F::Output, Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Io { what: "starting the runtime".into(), source: e })?;
    Ok(rt.block_on(fut))
}
