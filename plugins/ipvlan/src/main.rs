//! railcni `ipvlan`: a drop-in for the reference ipvlan plugin. The pod gets
//! an ipvlan link on a host interface (the master), sharing its MAC.

mod add;
mod config;
mod port;

use attach::{PodPlugin, Result};
use cni::delegate::forward;
use cni::{CniResult, Command, Request};
use netlink::{LinkKind, Sockets};

struct Ipvlan;

impl PodPlugin for Ipvlan {
    type Settings = config::Settings;
    const ABOUT: &'static str = "railcni ipvlan: gives the pod an ipvlan link on a host interface";

    fn load(&self, req: &Request) -> Result<Self::Settings, cni::Error> {
        config::load(req)
    }

    async fn add(&self, req: &Request, s: &Self::Settings, ns: &Sockets) -> Result<CniResult> {
        add::add(req, s, ns).await
    }

    async fn check(&self, req: &Request, s: &Self::Settings, ns: &Sockets, prev: &CniResult) -> Result<()> {
        let want = LinkKind::Ipvlan { mode: s.mode, flag: s.flag };
        attach::check_created_link(req, ns, prev, &want, s.mtu).await.map(drop)
    }

    /// The shared DEL, then this attachment's port record: nothing of the
    /// config beyond `stateDir` is needed.
    fn del(&self, req: &Request) -> Result<(), cni::Error> {
        let state_dir = config::state_dir(req)?;
        attach::block_on(attach::del(req))?;
        port::forget_this(req, &state_dir)
    }

    /// Forget the records of attachments the runtime no longer has, then GC IPAM.
    fn gc(&self, req: &Request) -> Result<(), cni::Error> {
        let s = config::load(req)?;
        let records = match cni::gc::valid_attachments(req)? {
            Some(valid) => port::forget_stale(req, &s.state_dir, &valid),
            None => Ok(()),
        };
        // GC carries on past an error and reports it at the end (SPEC: GC).
        let ipam = forward(req, Command::Gc);
        records.and(ipam)
    }
}

fn main() -> std::process::ExitCode {
    attach::run(&attach::Pod(Ipvlan), &ipam::IN_PROCESS)
}
