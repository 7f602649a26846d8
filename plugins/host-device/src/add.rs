//! ADD: record the device as it is, move it into the pod as `CNI_IFNAME`
//! (move and rename in one message, so the pod name is never seen on the
//! host), then IPAM, policy routing and link up. A failure puts it back.

use crate::config::Settings;
use crate::device::{Found, find};
use crate::record::Record;
use crate::restore::put_back;
use attach::Result;
use cni::statefile::AttachmentFile;
use cni::{CniResult, Interface, Request};
use netlink::{Link, Sockets};

pub async fn add(req: &Request, s: &Settings, ns: &Sockets) -> Result<CniResult> {
    attach::ensure_free(req, ns).await?;
    match find(&s.selector, s.field, &ns.host).await? {
        Found::Netdev { link, pci } => move_in(req, s, ns, link, pci).await,
        Found::Dpdk { pci } => dpdk(req, pci),
    }
}

async fn move_in(req: &Request, s: &Settings, ns: &Sockets, link: Link, pci: Option<String>) -> Result<CniResult> {
    let rec = Record {
        ifname: req.env.ifname.clone(),
        netns: req.env.netns.clone(),
        name: link.name.clone(),
        mac: link.mac.clone(),
        mtu: link.mtu,
        up: link.admin_up,
        kind: link.kind.name().to_string(),
        pci,
    };
    let store = AttachmentFile::of(&s.data_dir, req);
    store.write(&rec)?;
    let done = plumb(req, ns, &link, &rec).await;
    if let Err(e) = &done {
        tracing::warn!("ADD failed ({e:?}): putting {} back", rec.name);
        match put_back(&rec).await {
            Ok(()) => store.remove()?,
            // The record stays, so that DEL can finish the job.
            Err(e) => tracing::warn!("rolling back {}: {e:?}", rec.name),
        }
    }
    done
}

async fn plumb(req: &Request, ns: &Sockets, link: &Link, rec: &Record) -> Result<CniResult> {
    if link.admin_up {
        ns.host.set_down(link.index).await?;
    }
    ns.host.move_to_netns(link.index, ns.pod_ns.fd(), Some(&req.env.ifname)).await?;
    let pod_link = ns.pod.require_link(&req.env.ifname).await?;
    // A rename can leave the old name as an altname, which would stop DEL taking it back.
    ns.pod.remove_altname(pod_link.index, &rec.name).await?;
    // The original name as the alias, as the reference marks it: it survives a rename in the pod.
    ns.pod.set_alias(pod_link.index, &rec.name).await?;
    let mut result = attach::configure(req, ns, &pod_link).await?;
    result.interfaces[0].pci_id = rec.pci.clone();
    Ok(result)
}

/// DPDK: the device stays with its userspace driver; IPAM's addresses are
/// reported, not configured, as in the reference.
fn dpdk(req: &Request, pci: String) -> Result<CniResult> {
    let (lease, mut result) = attach::lease(req, 0)?;
    result.interfaces = vec![Interface {
        name: req.env.ifname.clone(),
        sandbox: Some(req.env.netns.clone()),
        pci_id: Some(pci),
        ..Interface::default()
    }];
    let result = req.chain(result)?;
    if let Some(lease) = lease {
        lease.keep();
    }
    Ok(result)
}
