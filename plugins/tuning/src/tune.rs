//! tuning's verbs, in the pod. ADD reads the old values of everything it
//! will change, saves them, then writes the sysctls and link attributes;
//! DEL puts back what the backup holds; CHECK compares every setting.

use crate::backup::Backup;
use crate::config::Settings;
use attach::{Error, Result, check_failed};
use cni::statefile::AttachmentFile;
use cni::{CniResult, Request};
use netlink::{Link, Sockets, format_mac, sysctl};

pub async fn add(req: &Request, s: &Settings, ns: &Sockets) -> Result<CniResult> {
    let mut prev = req
        .prev_result()?
        .ok_or_else(|| cni::Error::config("prevResult", "missing: tuning must be called as a chained plugin"))?;
    let link = ns.pod.link_by_name(&req.env.ifname).await?.ok_or_else(|| {
        cni::Error::env("CNI_IFNAME", format!("no interface {} in {}", req.env.ifname, req.env.netns))
    })?;
    let files = AttachmentFile::of(&s.data_dir, req);
    let mut backup = originals(s, ns, &link)?;
    if let Some(older) = files.read()? {
        backup = backup.keep_older(older);
    }
    if !backup.is_empty() {
        files.write(&backup)?;
    }
    ns.in_pod(|| s.sysctls.iter().try_for_each(|c| sysctl::set(&c.path, &c.value)))??;
    let i = link.index;
    if let Some(mac) = &s.mac {
        ns.pod.set_mac(i, mac.clone()).await?;
        let mac = format_mac(mac);
        for iface in prev.interfaces.iter_mut().filter(|f| f.name == req.env.ifname) {
            iface.mac = Some(mac.clone());
        }
    }
    if s.promisc {
        ns.pod.set_promisc(i, true).await?;
    }
    if let Some(mtu) = s.mtu {
        ns.pod.set_mtu(i, mtu).await?;
    }
    if let Some(on) = s.allmulti {
        ns.pod.set_allmulti(i, on).await?;
    }
    if let Some(len) = s.txqlen {
        ns.pod.set_txqueuelen(i, len).await?;
    }
    Ok(prev)
}

/// The current values of what `s` changes. A sysctl the pod does not have
/// is a bad key (code 7), found before anything is written.
fn originals(s: &Settings, ns: &Sockets, link: &Link) -> Result<Backup> {
    let sysctls = ns.in_pod(|| {
        s.sysctls
            .iter()
            .map(|c| match sysctl::get(&c.path) {
                Ok(old) => Ok((c.path.clone(), old)),
                Err(e) if e.is_not_found() => {
                    Err(Error::config(format!("sysctl.{}", c.key), format!("no such sysctl in the pod ({e})")))
                }
                Err(e) => Err(e.into()),
            })
            .collect::<Result<Vec<_>>>()
    })??;
    Ok(Backup {
        mac: s.mac.as_ref().map(|_| link.mac.clone()),
        promisc: s.promisc.then_some(link.promisc),
        mtu: s.mtu.map(|_| link.mtu),
        allmulti: s.allmulti.map(|_| link.allmulti),
        txqlen: s.txqlen.map(|_| link.txqueuelen),
        sysctls,
    })
}

/// DEL: put back what the backup holds, then remove it. Like the
/// reference, a value that cannot be restored is logged, not returned: an
/// error here would stop the runtime's DEL of the plugins before tuning in
/// the chain, and they own the interface and the address.
pub async fn del(req: &Request, data_dir: &std::path::Path) -> Result<()> {
    let files = AttachmentFile::of(data_dir, req);
    let backup = match files.read::<Backup>() {
        Ok(Some(backup)) => backup,
        Ok(None) => return Ok(()),
        Err(e) => {
            tracing::warn!("DEL: unreadable backup, nothing restored: {e}");
            return Ok(files.remove()?);
        }
    };
    if let Some(ns) = attach::pod_if_present(req)? {
        restore(req, &ns, &backup).await;
    }
    Ok(files.remove()?)
}

async fn restore(req: &Request, ns: &Sockets, b: &Backup) {
    let warn = |what: &str, e: &dyn std::fmt::Display| tracing::warn!("DEL: restoring {what}: {e}");
    for (path, value) in &b.sysctls {
        match ns.in_pod(|| sysctl::set(path, value)) {
            Ok(Ok(())) => {}
            // The interface of a per-interface key may already be gone.
            Ok(Err(e)) if e.is_not_found() => {}
            Ok(Err(e)) => warn(path, &e),
            Err(e) => warn(path, &e),
        }
    }
    let link = match ns.pod.link_by_name(&req.env.ifname).await {
        Ok(Some(link)) => link,
        Ok(None) => return,
        Err(e) => return warn(&req.env.ifname, &e),
    };
    let i = link.index;
    let nl = &ns.pod;
    if let Some(mac) = b.mac.as_deref().and_then(netlink::parse_mac) {
        nl.set_mac(i, mac).await.unwrap_or_else(|e| warn("the MAC", &e));
    }
    if let Some(mtu) = b.mtu {
        nl.set_mtu(i, mtu).await.unwrap_or_else(|e| warn("the MTU", &e));
    }
    if let Some(on) = b.promisc {
        nl.set_promisc(i, on).await.unwrap_or_else(|e| warn("promiscuous mode", &e));
    }
    if let Some(on) = b.allmulti {
        nl.set_allmulti(i, on).await.unwrap_or_else(|e| warn("all-multicast mode", &e));
    }
    if let Some(len) = b.txqlen {
        nl.set_txqueuelen(i, len).await.unwrap_or_else(|e| warn("the transmit queue length", &e));
    }
}

/// CHECK: the interface of `prev` is up with its addresses and routes (the
/// chain's state tuning runs on), and every configured sysctl and link
/// attribute has its value.
pub async fn check(req: &Request, s: &Settings, ns: &Sockets, prev: &CniResult) -> Result<()> {
    let link = attach::check_chained_link(req, ns, prev).await?;
    let mut wrong: Vec<String> = ns.in_pod(|| {
        s.sysctls
            .iter()
            .filter_map(|c| match sysctl::get(&c.path) {
                Ok(have) if same_value(&have, &c.value) => None,
                Ok(have) => Some(format!("{} is {have:?}, config says {:?}", c.key, c.value)),
                Err(e) => Some(e.to_string()),
            })
            .collect()
    })?;
    if let Some(mac) = &s.mac
        && netlink::parse_mac(&link.mac).as_ref() != Some(mac)
    {
        wrong.push(format!("MAC is {}, config says {}", link.mac, format_mac(mac)));
    }
    if s.promisc && !link.promisc {
        wrong.push("promiscuous mode is off".into());
    }
    if let Some(mtu) = s.mtu
        && link.mtu != mtu
    {
        wrong.push(format!("MTU is {}, config says {mtu}", link.mtu));
    }
    if let Some(on) = s.allmulti
        && link.allmulti != on
    {
        wrong.push(format!("all-multicast mode is {}, config says {on}", link.allmulti));
    }
    if let Some(len) = s.txqlen
        && link.txqueuelen != len
    {
        wrong.push(format!("transmit queue length is {}, config says {len}", link.txqueuelen));
    }
    if wrong.is_empty() {
        return Ok(());
    }
    Err(check_failed(format!("tuning of {}: {}", req.env.ifname, wrong.join("; "))))
}

/// The kernel prints multi-value sysctls with tabs (`ping_group_range`).
fn same_value(have: &str, want: &str) -> bool {
    have.split_whitespace().eq(want.split_whitespace())
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_compare_by_words() {
        assert!(super::same_value("0\t2147483647", "0 2147483647"));
        assert!(!super::same_value("1", "2"));
    }
}
