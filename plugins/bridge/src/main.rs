//! railcni `bridge`: a drop-in for the reference bridge plugin. The pod gets
//! one end of a veth pair; the other end is a port of a host bridge.

mod add;
mod check;
mod config;
mod del;
mod gateway;

use attach::{PodPlugin, Result};
use cni::delegate::forward;
use cni::{CniResult, Command, Request};
use netlink::Sockets;

struct Bridge;

impl PodPlugin for Bridge {
    type Settings = config::Settings;
    const ABOUT: &'static str = "railcni bridge: connects the pod to a host bridge with a veth pair";
    const KNOWN_ARGS: &'static [&'static str] = attach::MAC_AND_IPAM_ARGS;

    fn load(&self, req: &Request) -> Result<Self::Settings, cni::Error> {
        config::load(req)
    }

    async fn add(&self, req: &Request, s: &Self::Settings, ns: &Sockets) -> Result<CniResult> {
        add::add(req, s, ns).await
    }

    async fn check(&self, req: &Request, s: &Self::Settings, ns: &Sockets, prev: &CniResult) -> Result<()> {
        check::check(req, s, ns, prev).await
    }

    /// DEL decodes the config (for `ipMasq` and `macspoofchk`) but does not
    /// validate it.
    fn del(&self, req: &Request) -> Result<(), cni::Error> {
        let conf: config::Config = req.decode()?;
        attach::block_on(del::del(req, &conf))
    }

    /// Masquerade rules of attachments the runtime no longer lists go, then IPAM collects.
    fn gc(&self, req: &Request) -> Result<(), cni::Error> {
        let s = config::load(req)?;
        let masq = match cni::gc::valid_attachments(req)? {
            Some(valid) if s.conf.ip_masq => {
                let valid: Vec<_> = valid.into_iter().map(|a| (a.ifname, a.container_id)).collect();
                netlink::nft::masq::gc(&req.conf.name, &valid).map(|_| ()).map_err(|e| attach::Error::from(e).into())
            }
            _ => Ok(()),
        };
        // GC carries on past an error and reports it at the end (SPEC: GC).
        let ipam = forward(req, Command::Gc);
        masq.and(ipam)
    }
}

fn main() -> std::process::ExitCode {
    attach::run(&attach::Pod(Bridge), &ipam::IN_PROCESS)
}
