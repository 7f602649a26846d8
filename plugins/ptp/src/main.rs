//! railcni `ptp`: a drop-in for the reference ptp plugin. The pod gets one
//! end of a veth pair and is routed through the host (no bridge). Unlike
//! the reference, DEL removes the masquerade rules also when the netns is
//! already gone (plugins#810): they are found by attachment.

mod add;
mod config;

use attach::{Expect, PodPlugin, Result};
use cni::delegate::forward;
use cni::{CniResult, Command, Request};
use netlink::Sockets;

struct Ptp;

impl PodPlugin for Ptp {
    type Settings = config::Settings;
    const ABOUT: &'static str = "railcni ptp: routes the pod through the host over a veth pair";

    fn load(&self, req: &Request) -> Result<Self::Settings, cni::Error> {
        config::load(req)
    }

    async fn add(&self, req: &Request, s: &Self::Settings, ns: &Sockets) -> Result<CniResult> {
        add::add(req, s, ns).await
    }

    async fn check(&self, req: &Request, s: &Self::Settings, ns: &Sockets, prev: &CniResult) -> Result<()> {
        let pod = attach::check_pod_link(req, ns, prev, Expect { kind: "veth", up: true }).await?;
        attach::check_veth_peer(req, ns, &pod).await?;
        if s.ip_masq {
            attach::check_masq(req, &pod)?;
        }
        Ok(())
    }

    /// DEL decodes only `ipMasq`; the pod's end takes the host's with it.
    fn del(&self, req: &Request) -> Result<(), cni::Error> {
        let conf: config::Config = req.decode()?;
        attach::block_on(async {
            attach::remove_pod_link(req).await?;
            forward(req, Command::Del)?;
            if conf.ip_masq {
                attach::remove_masq(req)?;
            }
            Ok(())
        })
    }
}

fn main() -> std::process::ExitCode {
    attach::run(&attach::Pod(Ptp), &ipam::IN_PROCESS)
}
