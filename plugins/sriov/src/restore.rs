//! Putting a VF back as its record says it was: DEL, GC, a stale record
//! found by ADD, and an ADD that fails partway all end here.
//!
//! Every step finds the VF by PCI address, not by name, and can run again:
//! a DEL that failed halfway, or a netns that is gone (the kernel then
//! returns the netdev to the host, asynchronously, under its pod name or
//! `dev%d`), only changes where the netdev is found.

use crate::state::{Netdev, Record};
use cni::Error;
use netlink::sriov_sysfs::Sysfs;
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
    restore_pf(&host, rec).await?;
    if let (Some(link), Some(nd)) = (link, &rec.netdev) {
        restore_netdev(&host, &link, nd).await?;
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
    if let Some(link) = host.wait_link_by_pci(&rec.pci, RETURN_TIMEOUT).await? {
        return Ok(Some(link));
    }
    tracing::warn!("VF {} is neither in this namespace nor in {}: its netdev is not restored", rec.pci, rec.netns);
    Ok(None)
}

/// The attributes ADD set, back to their recorded values. A VF that no
/// longer exists (VFs disabled) has nothing left to restore.
async fn restore_pf(host: &Netlink, rec: &Record) -> Result<(), Error> {
    let vf = match Sysfs::default().vf(&rec.pci) {
        Ok(vf) => vf,
        Err(e) if e.is_not_found() => {
            tracing::warn!("VF {} is gone ({e}); nothing to restore on its PF", rec.pci);
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let pf = host.require_link(&vf.pf).await?;
    for attr in rec.restore_attrs() {
        host.set_vf(pf.index, vf.index, &attr).await?;
    }
    Ok(())
}

/// Name, MTU, MAC and admin state as they were. The MAC comes after the PF
/// side: a driver may refuse a netdev MAC while an admin MAC is set.
async fn restore_netdev(host: &Netlink, link: &Link, nd: &Netdev) -> Result<(), Error> {
    if link.admin_up {
        host.set_down(link.index).await?;
    }
    if link.name != nd.name {
        host.set_name(link.index, &nd.name).await?;
        host.remove_altname(link.index, &link.name).await?;
    }
    if link.mtu != nd.mtu {
        host.set_mtu(link.index, nd.mtu).await?;
    }
    if let Some(mac) = netlink::parse_mac(&nd.mac) {
        host.align_vf_mac(link.index, &mac).await?;
    }
    if nd.up {
        host.set_up(link.index).await?;
    }
    Ok(())
}
