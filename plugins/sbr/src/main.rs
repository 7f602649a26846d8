//! railcni `sbr`: a drop-in for the reference source-based-routing meta
//! plugin, chained after an interface plugin that is not railcni's
//! (host-device, third-party CNIs). It takes the interface and addresses
//! from `prevResult`, adds `from <addr> lookup <table>` rules and the
//! table's routes, and passes `prevResult` on with those routes added.
//! Unlike the reference it implements CHECK, and DEL finds the rules from
//! `prevResult` too, so it works after the interface is gone.

mod config;
mod sbr;

use cni::{CniResult, Error, Plugin, Request};

struct Sbr;

impl Plugin for Sbr {
    fn about(&self) -> &'static str {
        "railcni sbr: source-based routing for a chained interface"
    }

    fn add(&self, req: &Request) -> Result<CniResult, Error> {
        let s = config::load(req)?;
        netlink::with_pod(&req.env.netns, async |ns| sbr::add(req, &s, ns).await)
    }

    /// DEL does not validate what it does not need: a runtime rolling back an
    /// ADD refused for a bad value (Multus does) gets a clean DEL, which
    /// removes the rules from the attachment's addresses in any table.
    fn del(&self, req: &Request) -> Result<(), Error> {
        let table = config::load(req).map_or(None, |s| s.table);
        netlink::block_on(sbr::del(req, table))?
    }

    fn check(&self, req: &Request) -> Result<(), Error> {
        let s = config::load(req)?;
        let prev = req.require_prev_result()?;
        netlink::with_pod(&req.env.netns, async |ns| sbr::check(req, &s, ns, &prev).await)
    }
}

fn main() -> std::process::ExitCode {
    cni::run(&Sbr)
}
