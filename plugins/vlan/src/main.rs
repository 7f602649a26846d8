//! railcni `vlan`: a drop-in for the reference vlan plugin. The pod gets an
//! 802.1Q (or, beyond the reference, 802.1ad) VLAN device on a master.

mod add;
mod config;

use cni::delegate::forward;
use cni::{CniResult, Command, Error, Plugin, Request};
use netlink::attach::{self, check_failed};
use netlink::vlan::protocol_name;

struct Vlan;

impl Plugin for Vlan {
    fn about(&self) -> &'static str {
        "railcni vlan: gives the pod a VLAN device on a host interface"
    }

    /// IP and GATEWAY belong to the IPAM plugins we delegate to.
    fn known_args(&self) -> &'static [&'static str] {
        &["IP", "GATEWAY"]
    }

    fn add(&self, req: &Request) -> Result<CniResult, Error> {
        let s = config::load(req)?;
        netlink::with_pod(&req.env.netns, async |ns| add::add(req, &s, ns).await)
    }

    /// DEL needs neither the master nor the netns (the reference fails
    /// without the master), nor a valid config (see macvlan's DEL).
    fn del(&self, req: &Request) -> Result<(), Error> {
        netlink::block_on(attach::del(req))?
    }

    fn check(&self, req: &Request) -> Result<(), Error> {
        let s = config::load(req)?;
        let prev = req.require_prev_result()?;
        netlink::with_pod(&req.env.netns, async |ns| {
            let link = attach::check(req, ns, &prev, "vlan").await?;
            let want = (s.id, protocol_name(s.protocol).to_string());
            if link.vlan.as_ref() != Some(&want) {
                return Err(check_failed(format!("{} is VLAN {:?}, config says {want:?}", link.name, link.vlan)));
            }
            attach::check_mtu(&link, s.mtu)
        })
    }

    fn gc(&self, req: &Request) -> Result<(), Error> {
        forward(req, Command::Gc)
    }

    fn status(&self, req: &Request) -> Result<(), Error> {
        forward(req, Command::Status)
    }
}

fn main() -> std::process::ExitCode {
    cni::run_with(&Vlan, &ipam::IN_PROCESS)
}
