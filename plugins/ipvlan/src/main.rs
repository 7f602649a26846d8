//! railcni `ipvlan`: a drop-in for the reference ipvlan plugin. The pod gets
//! an ipvlan link on a host interface (the master), sharing its MAC.

mod add;
mod config;
mod port;

use cni::delegate::forward;
use cni::{CniResult, Command, Error, Plugin, Request};
use netlink::attach::{self, check_failed};
use netlink::ipvlan::{flag_name, mode_name};

struct Ipvlan;

impl Plugin for Ipvlan {
    fn about(&self) -> &'static str {
        "railcni ipvlan: gives the pod an ipvlan link on a host interface"
    }

    /// IP and GATEWAY belong to the IPAM plugins we delegate to.
    fn known_args(&self) -> &'static [&'static str] {
        &["IP", "GATEWAY"]
    }

    fn add(&self, req: &Request) -> Result<CniResult, Error> {
        let s = config::load(req)?;
        netlink::with_pod(&req.env.netns, async |ns| add::add(req, &s, ns).await)
    }

    /// DEL needs neither the master nor a default route, nor the netns,
    /// nor a valid config beyond `stateDir` (see macvlan's DEL).
    fn del(&self, req: &Request) -> Result<(), Error> {
        let state_dir = config::state_dir(req)?;
        netlink::block_on(attach::del(req))??;
        port::forget_this(req, &state_dir)
    }

    fn check(&self, req: &Request) -> Result<(), Error> {
        let s = config::load(req)?;
        let prev = req.require_prev_result()?;
        netlink::with_pod(&req.env.netns, async |ns| {
            let link = attach::check(req, ns, &prev, "ipvlan").await?;
            let want = (mode_name(s.mode).to_string(), flag_name(s.flag).to_string());
            if link.ipvlan.as_ref() != Some(&want) {
                return Err(check_failed(format!(
                    "{} is in ipvlan mode/flag {:?}, config says {want:?}",
                    link.name, link.ipvlan
                )));
            }
            attach::check_mtu(&link, s.mtu)
        })
    }

    /// Forget the records of attachments the runtime no longer has, then GC IPAM.
    fn gc(&self, req: &Request) -> Result<(), Error> {
        let s = config::load(req)?;
        let records = match cni::gc::valid_attachments(req)? {
            Some(valid) => port::forget_stale(req, &s.state_dir, &valid),
            None => Ok(()),
        };
        // GC carries on past an error and reports it at the end (SPEC: GC).
        let ipam = forward(req, Command::Gc);
        records.and(ipam)
    }

    fn status(&self, req: &Request) -> Result<(), Error> {
        forward(req, Command::Status)
    }
}

fn main() -> std::process::ExitCode {
    cni::run_with(&Ipvlan, &ipam::IN_PROCESS)
}
