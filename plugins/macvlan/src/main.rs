//! railcni `macvlan`: a drop-in for the reference macvlan plugin. The pod
//! gets a macvlan link on a host interface (the master), with its own MAC.

mod add;
mod config;

use attach::{PodPlugin, Result};
use cni::{CniResult, Request};
use netlink::{LinkKind, Sockets};

struct Macvlan;

impl PodPlugin for Macvlan {
    type Settings = config::Settings;
    const ABOUT: &'static str = "railcni macvlan: gives the pod a macvlan link on a host interface";
    const KNOWN_ARGS: &'static [&'static str] = attach::MAC_AND_IPAM_ARGS;

    fn load(&self, req: &Request) -> Result<Self::Settings, cni::Error> {
        config::load(req)
    }

    async fn add(&self, req: &Request, s: &Self::Settings, ns: &Sockets) -> Result<CniResult> {
        add::add(req, s, ns).await
    }

    async fn check(&self, req: &Request, s: &Self::Settings, ns: &Sockets, prev: &CniResult) -> Result<()> {
        let want = LinkKind::Macvlan { mode: Some(s.mode) };
        attach::check_created_link(req, ns, prev, &want, s.mtu).await.map(drop)
    }
}

fn main() -> std::process::ExitCode {
    attach::run(&attach::Pod(Macvlan), &ipam::IN_PROCESS)
}
