//! railcni `vlan`: a drop-in for the reference vlan plugin. The pod gets an
//! 802.1Q (or, beyond the reference, 802.1ad) VLAN device on a master. DEL
//! needs neither the master nor the netns (the reference fails without the
//! master).

mod add;
mod config;

use attach::{PodPlugin, Result};
use cni::{CniResult, Request};
use netlink::{LinkKind, Sockets};

struct Vlan;

impl PodPlugin for Vlan {
    type Settings = config::Settings;
    const ABOUT: &'static str = "railcni vlan: gives the pod a VLAN device on a host interface";

    fn load(&self, req: &Request) -> Result<Self::Settings, cni::Error> {
        config::load(req)
    }

    async fn add(&self, req: &Request, s: &Self::Settings, ns: &Sockets) -> Result<CniResult> {
        add::add(req, s, ns).await
    }

    async fn check(&self, req: &Request, s: &Self::Settings, ns: &Sockets, prev: &CniResult) -> Result<()> {
        let want = LinkKind::Vlan { id: s.id, protocol: s.protocol };
        attach::check_created_link(req, ns, prev, &want, s.mtu).await.map(drop)
    }
}

fn main() -> std::process::ExitCode {
    attach::run(&attach::Pod(Vlan), &ipam::IN_PROCESS)
}
