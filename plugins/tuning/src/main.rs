//! railcni `tuning`: a drop-in for the reference tuning meta plugin,
//! chained after an interface plugin. It sets sysctls in the pod and the
//! interface's MAC, MTU, promiscuous and all-multicast modes and transmit
//! queue length, and passes `prevResult` on with the MAC rewritten. Beyond
//! the reference, DEL restores the sysctls too, and CHECK compares every
//! setting.

mod backup;
mod config;
mod sysctls;
mod tune;

use attach::{PodPlugin, Result};
use cni::{CniResult, Request};
use netlink::Sockets;

struct Tuning;

impl PodPlugin for Tuning {
    type Settings = config::Settings;
    const ABOUT: &'static str = "railcni tuning: sysctls and link attributes for a chained interface";
    const KNOWN_ARGS: &'static [&'static str] = &["MAC"];
    /// It allocates nothing: no IPAM to forward GC and STATUS to, even if the config names one.
    const DELEGATES: bool = false;

    fn load(&self, req: &Request) -> Result<Self::Settings, cni::Error> {
        config::load(req)
    }

    async fn add(&self, req: &Request, s: &Self::Settings, ns: &Sockets) -> Result<CniResult> {
        tune::add(req, s, ns).await
    }

    async fn check(&self, req: &Request, s: &Self::Settings, ns: &Sockets, prev: &CniResult) -> Result<()> {
        tune::check(req, s, ns, prev).await
    }

    fn del(&self, req: &Request) -> Result<(), cni::Error> {
        let data_dir = cni::config::data_dir(req, config::DEFAULT_DATA_DIR)?;
        attach::block_on(tune::del(req, &data_dir))
    }
}

fn main() -> std::process::ExitCode {
    attach::run(&attach::Pod(Tuning), &[])
}
