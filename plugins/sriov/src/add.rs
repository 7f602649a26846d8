//! ADD: record the VF as it is, set its attributes on the PF, move its
//! netdev into the pod as `CNI_IFNAME`, then MTU, MAC, IPAM and link up.
//! In DPDK mode nothing moves: the PF side is set and IPAM only reports.

use crate::config::Settings;
use crate::restore::restore;
use crate::state::{Netdev, Record, Store};
use attach::Error;
use cni::delegate::has_ipam;
use cni::{CniResult, Interface, Request};
use netlink::sriov_sysfs::Vf;
use netlink::vf::VfAttr;
use netlink::{Link, Sockets, format_mac};
use std::time::Duration;

/// How long the announcement waits for the VF's carrier.
const CARRIER_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn add(req: &Request, s: &Settings, vf: &Vf, store: &Store, ns: &Sockets) -> Result<CniResult, Error> {
    if !vf.is_dpdk() {
        attach::ensure_free(req, ns).await?;
    }
    let pf = ns.host.require_link(&vf.pf).await?;
    let orig = ns.host.vf_state(pf.index, vf.index).await?;
    let netdev = match &vf.netdev {
        Some(name) if !vf.is_dpdk() => {
            let l = ns.host.require_link(name).await?;
            Some(Netdev { name: l.name, mac: l.mac, mtu: l.mtu, up: l.admin_up })
        }
        _ => None,
    };
    let rec = Record {
        network: req.conf.name.clone(),
        container_id: req.env.container_id.clone(),
        ifname: req.env.ifname.clone(),
        netns: req.env.netns.clone(),
        pci: vf.pci.clone(),
        pf: vf.pf.clone(),
        vf: vf.index,
        netdev,
        orig,
        touched: s.attrs.iter().map(|a| a.key().to_string()).collect(),
    };
    store.save(&rec)?;
    let result = match &rec.netdev {
        Some(nd) => attach_netdev(req, s, vf, &pf, nd, ns).await,
        None => dpdk(req, s, vf, &pf, &rec, ns).await,
    };
    if result.is_err() {
        match restore(&rec).await {
            Ok(()) => store.remove(&rec.pci)?,
            // The record stays, so that DEL or GC can finish the job.
            Err(e) => tracing::warn!("rolling back VF {}: {e}", rec.pci),
        }
    }
    result
}

/// Set the configured attributes on the PF. A refusal names the key, the
/// VF, the PF and the driver's answer.
async fn apply(s: &Settings, vf: &Vf, pf: &Link, ns: &Sockets) -> Result<(), Error> {
    for attr in &s.attrs {
        ns.host.set_vf(pf.index, vf.index, attr).await.map_err(|e| refused(attr, vf, e))?;
    }
    Ok(())
}

fn refused(attr: &VfAttr, vf: &Vf, e: netlink::Error) -> Error {
    let driver = vf.driver.as_deref().unwrap_or("no driver");
    Error::config(
        attr.key(),
        format!("PF {} refused {} for VF {} ({}, {driver}): {e}", vf.pf, attr.describe(), vf.index, vf.pci),
    )
}

async fn attach_netdev(
    req: &Request,
    s: &Settings,
    vf: &Vf,
    pf: &Link,
    nd: &Netdev,
    ns: &Sockets,
) -> Result<CniResult, Error> {
    apply(s, vf, pf, ns).await?;
    let host_link = ns.host.require_link(&nd.name).await?;
    if host_link.admin_up {
        ns.host.set_down(host_link.index).await?;
    }
    // Move and rename in one message: the new name is never seen on the host.
    ns.host.move_to_netns(host_link.index, ns.pod_ns.fd(), Some(&req.env.ifname)).await?;
    let link = ns.pod.require_link(&req.env.ifname).await?;
    ns.pod.remove_altname(link.index, &nd.name).await?;
    if let Some(mtu) = s.mtu {
        ns.pod.set_mtu(link.index, mtu).await?;
    }
    if let Some(mac) = &s.mac {
        ns.pod.align_vf_mac(link.index, mac).await?;
    }
    let link = ns.pod.require_link(&req.env.ifname).await?;
    let mut result = attach::configure(req, ns, &link).await?;
    if has_ipam(req) {
        announce(ns, &link).await;
    }
    result.interfaces[0].mtu = Some(link.mtu);
    result.interfaces[0].pci_id = Some(vf.pci.clone());
    Ok(result)
}

/// The gratuitous ARP and unsolicited NA, once the VF has carrier: a
/// reused pod IP now sits behind another MAC. Best effort, as in sriov-cni.
async fn announce(ns: &Sockets, link: &Link) {
    let sent = match ns.wait_pod_link_up(link.index, CARRIER_TIMEOUT).await {
        Ok(_) => ns.pod.announce(link.index).await,
        Err(e) => Err(e),
    };
    if let Err(e) = sent {
        tracing::warn!("announcing the addresses of {}: {e}", link.name);
    }
}

/// DPDK: the PF side only. IPAM's addresses are reported, not configured.
async fn dpdk(req: &Request, s: &Settings, vf: &Vf, pf: &Link, rec: &Record, ns: &Sockets) -> Result<CniResult, Error> {
    apply(s, vf, pf, ns).await?;
    let (lease, mut result) = attach::lease(req, 0)?;
    let admin_mac = s.mac.as_deref().map(format_mac).unwrap_or_else(|| rec.orig.mac.clone());
    result.interfaces = vec![Interface {
        name: req.env.ifname.clone(),
        mac: (admin_mac != "00:00:00:00:00:00").then_some(admin_mac),
        sandbox: Some(req.env.netns.clone()),
        pci_id: Some(vf.pci.clone()),
        ..Interface::default()
    }];
    if let Some(lease) = lease {
        lease.keep();
    }
    Ok(result)
}
