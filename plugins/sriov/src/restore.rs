//! Putting a VF back as its record says it was: DEL, GC, a stale record
//! found by ADD, and an ADD that fails partway all end here.
//!
//! Every step finds the VF by PCI address, not by name, and can run again:
//! a DEL that failed halfway, or a netns that is gone (the kernel then
//! returns the netdev to the host, asynchronously, under its pod name or
//! `dev%d`), only changes where the netdev is found.

use crate::state::{Netdev, Record};
use attach::Error;
use netlink::sriov_sysfs::Sysfs;
use netlink::vf::VfAttr;
use netlink::{Link, Netlink, Netns};
use std::path::Path;
use std::time::Duration;

/// How long DEL waits for the kernel to return a VF from a dead netns.
const RETURN_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn restore(rec: &Record) -> Result<(), Error> {
    let home = Netns::current()?;
    let host = Netlink::connect()?;
    let link = match &rec.netdev {
        Some(nd) => bring_home(&host, &home, rec, nd).await?,
        None => None,
    };
    let vf = pf_side(&host, rec).await?;
    if let Some((pf, index)) = vf {
        let state = host.vf_state(pf, index).await?;
        // Only what differs: an attribute the driver refused during ADD was never changed.
        let early = |a: &&VfAttr| !matches!(a, VfAttr::Mac(_) | VfAttr::Trust(_)) && !state.has(a);
        for attr in rec.restore_attrs().iter().filter(early) {
            host.set_vf(pf, index, attr).await?;
        }
    }
    if let (Some(link), Some(nd)) = (&link, &rec.netdev) {
        restore_netdev(&host, link, nd).await?;
    }
    restore_macs(&host, vf, link.as_ref(), rec).await?;
    // Trust last: some drivers refuse an untrusted VF's MAC change.
    if let (Some((pf, index)), Some(trust)) =
        (vf, rec.restore_attrs().into_iter().find(|a| matches!(a, VfAttr::Trust(_))))
    {
        if !host.vf_state(pf, index).await?.has(&trust) {
            host.set_vf(pf, index, &trust).await?;
        }
    }
    if let (Some(link), Some(Netdev { up: true, .. })) = (&link, &rec.netdev) {
        host.set_up(link.index).await?;
    }
    Ok(())
}

/// The VF netdev, moved back into the host namespace if it is in the pod.
async fn bring_home(host: &Netlink, home: &Netns, rec: &Record, nd: &Netdev) -> Result<Option<Link>, Error> {
    if let Some(link) = host.link_by_pci(&rec.pci).await? {
        return Ok(Some(link));
    }
    if let Ok(pod_ns) = Netns::open(Path::new(&rec.netns)) {
        let pod = Netlink::connect_in(&pod_ns, home)?;
        if let Some(link) = pod.link_by_pci(&rec.pci).await? {
            pod.set_down(link.index).await?;
            match pod.move_to_netns(link.index, home.fd(), Some(&nd.name)).await {
                // Someone took the name meanwhile: come back under a free one.
                Err(e) if e.is_exists() => pod.move_to_netns(link.index, home.fd(), Some("sriov%d")).await?,
                other => other?,
            }
            return Ok(host.link_by_pci(&rec.pci).await?);
        }
    }
    if !Sysfs::default().exists(&rec.pci) {
        tracing::warn!("VF {} is gone: nothing to restore", rec.pci);
        return Ok(None);
    }
    if let Some(link) = host.wait_link_by_pci(&rec.pci, RETURN_TIMEOUT).await? {
        return Ok(Some(link));
    }
    tracing::warn!("VF {} is neither in this namespace nor in {}: its netdev is not restored", rec.pci, rec.netns);
    Ok(None)
}

/// The PF's ifindex and the VF's number; none if the VF no longer exists
/// (VFs disabled): then nothing is left to restore on the PF.
async fn pf_side(host: &Netlink, rec: &Record) -> Result<Option<(u32, u32)>, Error> {
    let vf = match Sysfs::default().vf(&rec.pci) {
        Ok(vf) => vf,
        Err(e) if e.is_not_found() => {
            tracing::warn!("VF {} is gone ({e}); nothing to restore on its PF", rec.pci);
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Some((host.require_link(&vf.pf).await?.index, vf.index)))
}

/// Name and MTU as they were (the link goes down for the rename).
async fn restore_netdev(host: &Netlink, link: &Link, nd: &Netdev) -> Result<(), Error> {
    if link.admin_up {
        host.set_down(link.index).await?;
    }
    if link.name != nd.name {
        match host.set_name(link.index, &nd.name).await {
            // Another link took the name meanwhile: a DEL that can never
            // succeed would be worse than a VF under another name.
            Err(e) if e.is_exists() => {
                tracing::warn!("VF netdev {} cannot take back its name {}: {e}", link.name, nd.name)
            }
            other => {
                other?;
                host.remove_altname(link.index, &link.name).await?;
            }
        }
    }
    if link.mtu != nd.mtu {
        host.set_mtu(link.index, nd.mtu).await?;
    }
    Ok(())
}

/// The netdev's MAC and the admin MAC as they were. Some drivers (igb) keep
/// refusing a netdev MAC change while any admin MAC is set, and report the
/// VF's own MAC as its admin MAC: so the admin MAC is cleared first, the
/// netdev's MAC set, and the admin MAC written back only if the PF does not
/// already report the original (on igb it then does, with nothing pinned).
async fn restore_macs(host: &Netlink, vf: Option<(u32, u32)>, link: Option<&Link>, rec: &Record) -> Result<(), Error> {
    let admin = rec.touched.iter().any(|t| t == "mac").then(|| netlink::parse_mac(&rec.orig.mac)).flatten();
    if let (Some(_), Some((pf, index)), Some(_)) = (&admin, vf, link)
        && let Err(e) = host.set_vf(pf, index, &VfAttr::Mac(vec![0; 6])).await
    {
        tracing::debug!("clearing the admin MAC of VF {}: {e}", rec.pci);
    }
    if let (Some(link), Some(mac)) = (link, rec.netdev.as_ref().and_then(|nd| netlink::parse_mac(&nd.mac))) {
        host.align_vf_mac(link.index, &mac).await?;
    }
    if let (Some(admin), Some((pf, index))) = (admin, vf) {
        let attr = VfAttr::Mac(admin);
        if !host.vf_state(pf, index).await?.has(&attr) {
            host.set_vf(pf, index, &attr).await?;
        }
    }
    Ok(())
}
