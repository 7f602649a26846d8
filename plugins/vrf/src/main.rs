//! railcni `vrf`: a drop-in for the reference vrf meta plugin, chained
//! after an interface plugin: the pod's interface is enslaved to a VRF
//! (created if needed) and its routes move into the VRF's table. Unlike
//! the reference, DEL is idempotent (plugins#1282).

mod config;
mod plan;
mod vrf;

use attach::{PodPlugin, Result};
use cni::{CniResult, Request};
use netlink::Sockets;

struct Vrf;

impl PodPlugin for Vrf {
    type Settings = config::Settings;
    const ABOUT: &'static str = "railcni vrf: enslaves a chained interface to a VRF";
    const KNOWN_ARGS: &'static [&'static str] = &[];
    /// It allocates nothing: no IPAM to forward GC and STATUS to, even if the config names one.
    const DELEGATES: bool = false;

    fn load(&self, req: &Request) -> Result<Self::Settings, cni::Error> {
        config::load(req)
    }

    async fn add(&self, req: &Request, s: &Self::Settings, ns: &Sockets) -> Result<CniResult> {
        vrf::add(req, s, ns).await
    }

    async fn check(&self, req: &Request, s: &Self::Settings, ns: &Sockets, prev: &CniResult) -> Result<()> {
        vrf::check(req, s, ns, prev).await
    }

    /// DEL needs only `vrfname`; without it there is nothing to release.
    fn del(&self, req: &Request) -> Result<(), cni::Error> {
        match config::load(req) {
            Ok(s) => attach::block_on(vrf::del(req, &s.vrfname)),
            Err(_) => Ok(()),
        }
    }
}

fn main() -> std::process::ExitCode {
    attach::run(&attach::Pod(Vrf), &[])
}
