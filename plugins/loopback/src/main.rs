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
    type Settings = ();
    const ABOUT: &'static str = "railcni loopback: brings up the pod's loopback device";
    const KNOWN_ARGS: &'static [&'static str] = &[];
    /// The reference never parses `CNI_ARGS`, so no value of it fails a pod.
    const READS_ARGS: bool = false;

    /// loopback has no keys of its own.
    fn load(&self, _req: &Request) -> Result<(), cni::Error> {
        Ok(())
    }

    async fn add(&self, req: &Request, _: &(), ns: &Sockets) -> Result<CniResult> {
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
        if let Some(prev) = req.prev_result()? {
            return Ok(prev);
        }
        // Like the reference: the one interface is `lo` whatever CNI_IFNAME
        // says (a chain run for eth0 must not report two eth0s), with lo's
        // addresses, IPv4 first.
        ips.sort_by_key(|ip| ip.address.is_ipv6());
        let iface = Interface {
            name: "lo".into(),
            mac: Some("00:00:00:00:00:00".into()),
            sandbox: Some(req.env.netns.clone()),
            ..Interface::default()
        };
        Ok(CniResult { interfaces: vec![iface], ips, ..CniResult::default() })
    }

    async fn check(&self, _req: &Request, _: &(), ns: &Sockets, _prev: &CniResult) -> Result<()> {
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
