//! The pair of sockets an interface plugin works with: one bound in the host
//! namespace, one in the pod's.

use crate::{Error, Netlink, Netns};
use std::path::Path;

pub struct Sockets {
    /// The namespace the plugin was started in, which every `setns` returns to.
    pub home: Netns,
    pub host: Netlink,
    pub pod_ns: Netns,
    pub pod: Netlink,
}

impl Sockets {
    /// Open `netns` and bind a socket in it and one here. Needs a tokio runtime.
    pub fn open(netns: &str) -> Result<Sockets, Error> {
        let home = Netns::current()?;
        let pod_ns = Netns::open(Path::new(netns))?;
        if pod_ns.same_as(&home) {
            // ADD would put the pod's interface on the host, DEL delete a host interface.
            return Err(Error::Netns { path: netns.to_string(), why: "is the host's own network namespace".into() });
        }
        let host = Netlink::connect()?;
        let pod = Netlink::connect_in(&pod_ns, &home)?;
        Ok(Sockets { home, host, pod_ns, pod })
    }

    /// Run `f` with the thread in the pod namespace (sysctls, `/proc` reads).
    pub fn in_pod<T>(&self, f: impl FnOnce() -> T) -> Result<T, Error> {
        self.pod_ns.run(&self.home, f)
    }

    /// [`Netlink::wait_oper_up`] for a link in the pod. The event socket
    /// has to be bound in the pod namespace, so it is opened from inside it.
    pub async fn wait_pod_link_up(&self, index: u32, timeout: std::time::Duration) -> Result<crate::Link, Error> {
        if let Some(up) = self.pod.link_by_index(index).await?.filter(|l| l.oper_up) {
            return Ok(up);
        }
        let mut sub = self.in_pod(crate::socket::LinkEvents::subscribe)??;
        self.pod.wait_with(&mut sub.events, index, timeout).await
    }
}
