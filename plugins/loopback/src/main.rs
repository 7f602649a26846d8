//! railcni `loopback`: a drop-in for the reference loopback plugin, which
//! every container runtime runs for every pod. ADD brings `lo` up in the
//! pod (whatever `CNI_IFNAME` says) and reports it, or passes a chained
//! `prevResult` through; CHECK finds it up; DEL brings it down, and
//! succeeds when the netns is already gone.

use attach::{PodPlugin, Result, check_failed};
use cni::{CniResult, Interface, IpConfig, Request};
use netlink::{Link, Netlink, Sockets};

struct Loopback;

impl PodPlugin for Loopback {
    /// The chain's `prevResult`, which ADD passes on.
    type Settings = Option<CniResult>;
    const ABOUT: &'static str = "railcni loopback: brings up the pod's loopback device";
    const KNOWN_ARGS: &'static [&'static str] = &[];
    /// The reference never parses `CNI_ARGS`, so no value of it fails a pod.
    const READS_ARGS: bool = false;

    /// loopback has no keys of its own; `prevResult` is decoded here, before
    /// the pod is touched, so that a bad one is refused with lo as it was (as
    /// the reference does). Decoded after lo came up, it left lo up.
    fn load(&self, req: &Request) -> Result<Option<CniResult>, cni::Error> {
        req.prev_result()
    }

    async fn add(&self, req: &Request, prev: &Option<CniResult>, ns: &Sockets) -> Result<CniResult> {
        let lo = loopback(&ns.pod).await?;
        // Up first: the kernel gives lo its addresses when it comes up.
        ns.pod.set_up(lo.index).await?;
        let mut ips = Vec::new();
        for addr in ns.pod.addresses(Some(lo.index)).await? {
            if !addr.cidr.ip().is_loopback() {
                return Err(attach::Error::internal(format!(
                    "loopback interface found with non-loopback address {}",
                    addr.cidr
                )));
            }
            ips.push(IpConfig { interface: Some(0), address: addr.cidr, gateway: None });
        }
        if let Some(prev) = prev {
            return Ok(prev.clone());
        }
        // Like the reference: lo, whatever the runtime called it, with its addresses, IPv4 first.
        ips.sort_by_key(|ip| ip.address.is_ipv6());
        let iface = Interface {
            name: lo.name,
            mac: Some("00:00:00:00:00:00".into()),
            sandbox: Some(req.env.netns.clone()),
            ..Interface::default()
        };
        Ok(CniResult { interfaces: vec![iface], ips, ..CniResult::default() })
    }

    async fn check(&self, _req: &Request, _: &Option<CniResult>, ns: &Sockets, _prev: &CniResult) -> Result<()> {
        let lo = loopback(&ns.pod).await?;
        if !lo.admin_up {
            return Err(check_failed("loopback interface is down".into()));
        }
        Ok(())
    }

    /// Bring lo down, as the reference does; a netns already gone took it along.
    fn del(&self, req: &Request) -> Result<(), cni::Error> {
        attach::block_on(async {
            if let Some(ns) = attach::pod_if_present(req)? {
                let lo = loopback(&ns.pod).await?;
                ns.pod.set_down(lo.index).await?;
            }
            Ok(())
        })
    }
}

async fn loopback(pod: &Netlink) -> Result<Link> {
    Ok(pod.require_link("lo").await?)
}

fn main() -> std::process::ExitCode {
    attach::run(&attach::Pod(Loopback), &[])
}
