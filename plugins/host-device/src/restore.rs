//! Putting a device back as its record says it was: DEL, and an ADD that
//! fails partway. Each step finds the device by what survives: in the pod
//! by its alias (set at ADD, kept across a rename there), on the host by
//! PCI address or MAC (a physical device the kernel returned from a dead
//! netns comes back under its pod name, or `dev%d`). Every step can run
//! again, so a DEL that failed halfway is finished by the next one.

use crate::record::Record;
use attach::Result;
use netlink::{Link, Netlink, Netns};
use std::path::Path;
use std::time::Duration;

/// How long DEL waits for the kernel to return a physical device from a dead netns.
const RETURN_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn put_back(rec: &Record) -> Result<()> {
    let home = Netns::current()?;
    let host = Netlink::connect()?;
    let pod_alive = match Netns::open(Path::new(&rec.netns)) {
        Ok(pod_ns) if !rec.netns.is_empty() && !pod_ns.same_as(&home) => {
            let pod = Netlink::connect_in(&pod_ns, &home)?;
            if let Some(link) = in_pod(&pod, rec).await? {
                leave_pod(&pod, &home, &link, rec).await?;
            }
            true
        }
        _ => false,
    };
    let link = match on_host(&host, rec).await? {
        Some(link) => Some(link),
        // A physical device outlives its netns: the kernel returns it, asynchronously.
        None if !pod_alive && rec.kind.is_empty() => wait_on_host(&host, rec).await?,
        None => None,
    };
    match link {
        Some(link) => restore(&host, &link, rec).await,
        None => {
            // A virtual device (a veth end) dies with its netns: nothing is left to restore.
            tracing::info!("device {} is gone: nothing to restore", rec.name);
            Ok(())
        }
    }
}

/// The device in the pod: by alias, else (an ADD killed before it set the
/// alias) by `CNI_IFNAME` and kind, else by PCI address.
async fn in_pod(pod: &Netlink, rec: &Record) -> Result<Option<Link>> {
    let links = pod.links().await?;
    let by_alias = links.iter().find(|l| l.alias == rec.name && l.kind.name() == rec.kind);
    let by_name = || links.iter().find(|l| l.name == rec.ifname && l.kind.name() == rec.kind && l.alias.is_empty());
    if let Some(link) = by_alias.or_else(by_name) {
        return Ok(Some(link.clone()));
    }
    match &rec.pci {
        Some(pci) => Ok(pod.link_by_pci(pci).await?),
        None => Ok(None),
    }
}

/// Move the device home under its own name. If another link took that
/// name, the kernel still moves it (under its pod name) and only the
/// rename fails: [`restore`] then leaves the name, and says so.
async fn leave_pod(pod: &Netlink, home: &Netns, link: &Link, rec: &Record) -> Result<()> {
    if link.admin_up {
        pod.set_down(link.index).await?;
    }
    match pod.move_to_netns(link.index, home.fd(), Some(&rec.name)).await {
        Err(e) if e.is_exists() => Ok(()),
        other => Ok(other?),
    }
}

/// The device on the host: by PCI address, else by MAC and kind.
async fn on_host(host: &Netlink, rec: &Record) -> Result<Option<Link>> {
    if let Some(pci) = &rec.pci
        && let Some(link) = host.link_by_pci(pci).await?
    {
        return Ok(Some(link));
    }
    Ok(host.links().await?.into_iter().find(|l| is_ours(l, rec)))
}

async fn wait_on_host(host: &Netlink, rec: &Record) -> Result<Option<Link>> {
    if let Some(pci) = &rec.pci {
        return Ok(host.wait_link_by_pci(pci, RETURN_TIMEOUT).await?);
    }
    let link = host.wait_link(RETURN_TIMEOUT, |l| is_ours(l, rec)).await?;
    if link.is_none() {
        tracing::warn!("device {} did not come back from {}: not restored", rec.name, rec.netns);
    }
    Ok(link)
}

fn is_ours(l: &Link, rec: &Record) -> bool {
    l.mac == rec.mac && l.kind.name() == rec.kind
}

/// Name, MTU and admin state as they were. A name another link took on the
/// host is left: a DEL that could never succeed would be worse.
async fn restore(host: &Netlink, link: &Link, rec: &Record) -> Result<()> {
    if link.name != rec.name {
        if link.admin_up {
            host.set_down(link.index).await?;
        }
        match host.set_name(link.index, &rec.name).await {
            Err(e) if e.is_exists() => tracing::warn!("{} cannot take back its name {}: {e}", link.name, rec.name),
            other => other?,
        }
    }
    if link.mtu != rec.mtu {
        host.set_mtu(link.index, rec.mtu).await?;
    }
    if !link.alias.is_empty() {
        host.set_alias(link.index, "").await?;
    }
    if rec.up {
        host.set_up(link.index).await?;
    }
    Ok(())
}
