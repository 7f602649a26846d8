//! railcni `sbr`: a drop-in for the reference source-based-routing meta
//! plugin, chained after an interface plugin that is not railcni's
//! (host-device, third-party CNIs). It takes the interface and addresses
//! from `prevResult`, adds `from <addr> lookup <table>` rules and the
//! table's routes, and passes `prevResult` on with those routes added.
//! Unlike the reference it implements CHECK, and DEL finds the rules from
//! `prevResult` too, so it works after the interface is gone.

mod config;
mod sbr;

use attach::{PodPlugin, Result};
use cni::{CniResult, Request};
use netlink::Sockets;

struct Sbr;

impl PodPlugin for Sbr {
    type Settings = config::Settings;
    const ABOUT: &'static str = "railcni sbr: source-based routing for a chained interface";
    const KNOWN_ARGS: &'static [&'static str] = &[];
    /// It allocates nothing: no IPAM to forward GC and STATUS to, even if the config names one.
    const DELEGATES: bool = false;

    fn load(&self, req: &Request) -> Result<Self::Settings, cni::Error> {
        config::load(req)
    }

    async fn add(&self, req: &Request, s: &Self::Settings, ns: &Sockets) -> Result<CniResult> {
        sbr::add(req, s, ns).await
    }

    async fn check(&self, req: &Request, s: &Self::Settings, ns: &Sockets, prev: &CniResult) -> Result<()> {
        sbr::check(req, s, ns, prev).await
    }

    /// DEL does not validate what it does not need: a runtime rolling back an
    /// ADD refused for a bad value (Multus does) gets a clean DEL, which
    /// removes the rules from the attachment's addresses in any table.
    fn del(&self, req: &Request) -> Result<(), cni::Error> {
        let table = config::load(req).map_or(None, |s| s.table);
        attach::block_on(sbr::del(req, table))
    }
}

fn main() -> std::process::ExitCode {
    attach::run(&attach::Pod(Sbr), &[])
}
