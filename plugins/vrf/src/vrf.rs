//! vrf's verbs, in the pod. ADD finds or creates the VRF, enslaves the
//! interface, adds back the IPv6 addresses enslaving removed and moves the
//! interface's routes into the VRF's table. DEL releases the interface and
//! deletes the VRF once it has no member left; anything already gone is
//! success (the reference fails on ENODEV, plugins#1282).

use crate::config::Settings;
use crate::plan::{free_table, routes_to_move, v6_to_restore};
use attach::{Error, Result, check_failed};
use cni::{CniResult, Request};
use ipnetwork::IpNetwork;
use netlink::{Link, LinkKind, Netlink, Sockets, TABLE_MAIN};

pub async fn add(req: &Request, s: &Settings, ns: &Sockets) -> Result<CniResult> {
    let prev = req
        .prev_result()?
        .ok_or_else(|| cni::Error::config("prevResult", "missing: vrf must be called as a chained plugin"))?;
    let pod = &ns.pod;
    let link = pod
        .link_by_name(&req.env.ifname)
        .await?
        .ok_or_else(|| cni::Error::env("CNI_IFNAME", format!("no interface {} in the pod", req.env.ifname)))?;
    if link.master.is_some() {
        return Err(Error::config("vrfname", format!("{} is already enslaved to a master", link.name)));
    }
    let (vrf, table) = ensure_vrf(pod, s).await?;
    let addrs = v6_to_restore(&pod.addresses(Some(link.index)).await?);
    let mut routes = Vec::new();
    for v4 in [true, false] {
        routes.extend(routes_to_move(&pod.routes(v4, Some(TABLE_MAIN)).await?, link.index, table));
    }
    pod.set_master(link.index, vrf.index).await?;
    for a in &addrs {
        match pod.add_address(link.index, a.cidr, true).await {
            Err(e) if e.is_exists() => {}
            other => other?,
        }
        // Routes via an IPv6 gateway need the address's local route in the VRF's table first.
        let host = IpNetwork::new(a.cidr.ip(), 128).map_err(|e| Error::internal(e.to_string()))?;
        if !pod.wait_route(host, table).await? {
            tracing::warn!("the local route of {} did not appear in table {table}", a.cidr);
        }
    }
    for r in &routes {
        match pod.add_route(r).await {
            Err(e) if e.is_exists() => {}
            other => other?,
        }
    }
    Ok(prev)
}

/// The VRF named `vrfname`, created if missing, and its table.
async fn ensure_vrf(pod: &Netlink, s: &Settings) -> Result<(Link, u32)> {
    let links = pod.links().await?;
    if let Some(existing) = links.iter().find(|l| l.name == s.vrfname) {
        let LinkKind::Vrf { table } = existing.kind else {
            return Err(Error::config("vrfname", format!("{} exists and is not a VRF", s.vrfname)));
        };
        if s.table.is_some_and(|t| t != table) {
            return Err(Error::config(
                "table",
                format!("VRF {} already exists with table {table}, config says {}", s.vrfname, s.table.unwrap_or(0)),
            ));
        }
        return Ok((existing.clone(), table));
    }
    let taken: Vec<u32> = links
        .iter()
        .filter_map(|l| match l.kind {
            LinkKind::Vrf { table } => Some(table),
            _ => None,
        })
        .collect();
    let table = s.table.unwrap_or_else(|| free_table(&taken));
    if s.table.is_some() && taken.contains(&table) {
        return Err(Error::config("table", format!("table {table} belongs to another VRF in the pod")));
    }
    pod.add_vrf(&s.vrfname, table).await?;
    let vrf = pod.require_link(&s.vrfname).await?;
    pod.set_up(vrf.index).await?;
    Ok((vrf, table))
}

pub async fn del(req: &Request, vrfname: &str) -> Result<()> {
    let Some(ns) = attach::pod_if_present(req)? else { return Ok(()) };
    let pod = &ns.pod;
    let links = pod.links().await?;
    let Some(vrf) = links.iter().find(|l| l.name == vrfname && matches!(l.kind, LinkKind::Vrf { .. })) else {
        return Ok(());
    };
    if let Some(link) = links.iter().find(|l| l.name == req.env.ifname && l.master == Some(vrf.index)) {
        match pod.set_nomaster(link.index).await {
            Err(e) if e.is_not_found() => {}
            other => other?,
        }
    }
    let members = links.iter().filter(|l| l.master == Some(vrf.index) && l.name != req.env.ifname).count();
    if members == 0 {
        pod.delete_link(vrf.index).await?;
        let vrfs_left = links.iter().any(|l| l.index != vrf.index && matches!(l.kind, LinkKind::Vrf { .. }));
        if !vrfs_left {
            // The kernel adds `lookup [l3mdev-table]` rules with a namespace's
            // first VRF and never removes them: with the last VRF gone they
            // route nothing, and they would outlive the attachment.
            attach::policy::delete_rules_where(pod, |r| r.l3mdev).await?;
        }
    }
    Ok(())
}

/// CHECK: the VRF with its table, the interface enslaved and up, with
/// `prev`'s addresses and its routes (in the VRF's table, where ADD moved them).
pub async fn check(req: &Request, s: &Settings, ns: &Sockets, prev: &CniResult) -> Result<()> {
    let links = ns.pod.links().await?;
    let vrf = links
        .iter()
        .find(|l| l.name == s.vrfname)
        .ok_or_else(|| check_failed(format!("VRF {} is missing from the pod", s.vrfname)))?;
    let LinkKind::Vrf { table } = vrf.kind else {
        return Err(check_failed(format!("{} is not a VRF", s.vrfname)));
    };
    if s.table.is_some_and(|t| t != table) {
        return Err(check_failed(format!("VRF {} has table {table}, config says {:?}", s.vrfname, s.table)));
    }
    let link = match links.iter().find(|l| l.name == req.env.ifname) {
        Some(l) if l.master == Some(vrf.index) => l,
        Some(l) => return Err(check_failed(format!("{} is not enslaved to VRF {}", l.name, s.vrfname))),
        None => return Err(check_failed(format!("interface {} is missing from the pod", req.env.ifname))),
    };
    if !link.admin_up {
        return Err(check_failed(format!("{} is down", link.name)));
    }
    let mut moved = prev.clone();
    for r in moved.routes.iter_mut().filter(|r| r.table.is_none()) {
        r.table = Some(table);
    }
    let index = attach::prev_interface(req, prev)?;
    attach::check_addresses_and_routes(&ns.pod, link, index, &moved).await
}
