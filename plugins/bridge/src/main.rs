//! railcni `bridge`: a drop-in for the reference bridge plugin. The pod gets
//! one end of a veth pair; the other end is a port of a host bridge.

mod add;
mod check;
mod config;
mod del;
mod gateway;

use cni::delegate::forward;
use cni::{CniResult, Command, Error, Plugin, Request};

struct Bridge;

impl Plugin for Bridge {
    fn about(&self) -> &'static str {
        "railcni bridge: connects the pod to a host bridge with a veth pair"
    }

    /// MAC is ours; IP and GATEWAY belong to the IPAM plugins we delegate to.
    fn known_args(&self) -> &'static [&'static str] {
        &["MAC", "IP", "GATEWAY"]
    }

    fn add(&self, req: &Request) -> Result<CniResult, Error> {
        let s = config::load(req)?;
        netlink::with_pod(&req.env.netns, async |ns| add::add(req, &s, ns).await)
    }

    /// DEL decodes the config but does not validate it: after an ADD that
    /// was refused for a bad value (and made nothing), a runtime rolling back
    /// (Multus does) must still get a clean DEL.
    fn del(&self, req: &Request) -> Result<(), Error> {
        let conf: config::Config = req.decode()?;
        netlink::block_on(del::del(req, &conf))?
    }

    fn check(&self, req: &Request) -> Result<(), Error> {
        let s = config::load(req)?;
        let prev = req.require_prev_result()?;
        netlink::with_pod(&req.env.netns, async |ns| check::check(req, &s, ns, &prev).await)
    }

    /// Masquerade rules of attachments the runtime no longer lists go, then IPAM collects.
    fn gc(&self, req: &Request) -> Result<(), Error> {
        let s = config::load(req)?;
        let masq = match cni::gc::valid_attachments(req)? {
            Some(valid) if s.conf.ip_masq => {
                let valid: Vec<_> = valid.into_iter().map(|a| (a.ifname, a.container_id)).collect();
                netlink::nft::masq::gc(&req.conf.name, &valid).map(|_| ()).map_err(Error::from)
            }
            _ => Ok(()),
        };
        // GC carries on past an error and reports it at the end (SPEC: GC).
        let ipam = forward(req, Command::Gc);
        masq.and(ipam)
    }

    fn status(&self, req: &Request) -> Result<(), Error> {
        forward(req, Command::Status)
    }
}

/// The host end's name: `veth` + 8 hex digits, derived from the attachment
/// so it is stable for a pod (and readable in `ip link`), with `attempt`
/// picking another name if that one is taken.
fn veth_name(container_id: &str, ifname: &str, attempt: u32) -> String {
    let key = format!("{container_id}\0{ifname}\0{attempt}");
    let hash = key.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ b as u32).wrapping_mul(0x0100_0193));
    format!("veth{hash:08x}")
}

fn main() -> std::process::ExitCode {
    cni::run_with(&Bridge, &ipam::IN_PROCESS)
}
