//! railcni `macvlan`: a drop-in for the reference macvlan plugin. The pod
//! gets a macvlan link on a host interface (the master), with its own MAC.

mod add;
mod check;
mod config;

use cni::delegate::forward;
use cni::{CniResult, Command, Error, Plugin, Request};

struct Macvlan;

impl Plugin for Macvlan {
    fn about(&self) -> &'static str {
        "railcni macvlan: gives the pod a macvlan link on a host interface"
    }

    /// MAC is ours; IP and GATEWAY belong to the IPAM plugins we delegate to.
    fn known_args(&self) -> &'static [&'static str] {
        &["MAC", "IP", "GATEWAY"]
    }

    fn add(&self, req: &Request) -> Result<CniResult, Error> {
        let s = config::load(req)?;
        netlink::with_pod(&req.env.netns, async |ns| add::add(req, &s, ns).await)
    }

    /// DEL does not resolve `master` (it must work after the master is
    /// gone), nor validate the config (after an ADD refused for a bad value,
    /// a rollback's DEL must still succeed).
    fn del(&self, req: &Request) -> Result<(), Error> {
        netlink::block_on(netlink::attach::del(req))?
    }

    fn check(&self, req: &Request) -> Result<(), Error> {
        let s = config::load(req)?;
        let prev = req.require_prev_result()?;
        netlink::with_pod(&req.env.netns, async |ns| check::check(req, &s, ns, &prev).await)
    }

    fn gc(&self, req: &Request) -> Result<(), Error> {
        forward(req, Command::Gc)
    }

    fn status(&self, req: &Request) -> Result<(), Error> {
        forward(req, Command::Status)
    }
}

fn main() -> std::process::ExitCode {
    cni::run_with(&Macvlan, &ipam::IN_PROCESS)
}
