//! sbr's verbs. ADD reproduces the reference's kernel state: per address a
//! table (the first id from 100 no rule or route uses, chosen under the
//! same netns-file lock the reference takes), a rule from the address
//! (kernel-chosen priority unless `priority`), a default route via the
//! gateway, the interface's main routes copied in, and then removed from
//! main (or, with `addSourceHints`, main keeps its subnet routes with a
//! source hint). With `table` it adds only the rules.

use crate::config::Settings;
use attach::policy::{add_rules, delete_rules, delete_rules_where, prev_addresses, source_rule};
use attach::{Error, Result, check_addresses_and_routes, check_failed};
use cni::{CniResult, Error as CniError, IpConfig, Request, Route as CniRoute};
use ipnetwork::IpNetwork;
use netlink::{Link, Netlink, Route, Rule, Sockets, TABLE_MAIN};

/// The reference's first table id.
const FIRST_TABLE: u32 = 100;
/// RT_SCOPE_LINK.
const SCOPE_LINK: u8 = 253;

/// The addresses of `prevResult` on `ifname`; an address without an
/// interface index (or with one out of range) counts, as in the reference.
fn ips_of(ifname: &str, prev: &CniResult) -> Vec<IpConfig> {
    prev.ips
        .iter()
        .filter(|ip| ip.interface.and_then(|i| prev.interfaces.get(i)).is_none_or(|i| i.name == ifname))
        .cloned()
        .collect()
}

async fn pod_link(req: &Request, pod: &Netlink) -> Result<Link> {
    let ifname = &req.env.ifname;
    pod.link_by_name(ifname)
        .await?
        .ok_or_else(|| CniError::env("CNI_IFNAME", format!("no interface {ifname} in {}", req.env.netns)).into())
}

pub async fn add(req: &Request, s: &Settings, ns: &Sockets) -> Result<CniResult> {
    let mut prev = req
        .prev_result()?
        .ok_or_else(|| CniError::config("prevResult", "missing: sbr must be called as a chained plugin"))?;
    let ips = ips_of(&req.env.ifname, &prev);
    if ips.is_empty() {
        return Err(Error::config("prevResult.ips", format!("no IP addresses for interface {}", req.env.ifname)));
    }
    let _lock = ns.pod_ns.lock()?;
    let link = pod_link(req, &ns.pod).await?;
    match s.table {
        Some(table) => {
            let rules: Vec<Rule> = ips.iter().map(|ip| source_rule(ip.address.ip(), table, s.priority)).collect();
            add_rules(&ns.pod, &rules).await?;
        }
        None => {
            let mut undo = Undo::default();
            let done = by_source(s, &ns.pod, &link, &ips, &mut prev, &mut undo).await;
            if done.is_err() {
                undo.run(&ns.pod).await;
            }
            done?;
        }
    }
    Ok(prev)
}

/// What a failed ADD takes back.
#[derive(Default)]
struct Undo {
    rules: Vec<Rule>,
    routes: Vec<Route>,
}

impl Undo {
    async fn run(&self, pod: &Netlink) {
        delete_rules(pod, &self.rules).await;
        for r in &self.routes {
            if let Err(e) = pod.delete_route(r).await {
                tracing::warn!("rolling back route {r:?}: {e}");
            }
        }
    }
}

async fn by_source(
    s: &Settings,
    pod: &Netlink,
    link: &Link,
    ips: &[IpConfig],
    prev: &mut CniResult,
    undo: &mut Undo,
) -> Result<()> {
    let mut used: Vec<u32> = Vec::new();
    let mut routes = Vec::new();
    for v4 in [true, false] {
        used.extend(pod.rules(!v4).await?.iter().map(|r| r.table));
        routes.extend(pod.routes(v4, None).await?);
    }
    used.extend(routes.iter().filter_map(|r| r.table));
    let free_from = |t: u32| (t..=u32::MAX).find(|t| !used.contains(t)).unwrap_or(t);
    let mine: Vec<Route> =
        routes.into_iter().filter(|r| r.table == Some(TABLE_MAIN) && r.oif == Some(link.index)).collect();

    let mut table = free_from(FIRST_TABLE);
    let mut reported: Vec<CniRoute> = Vec::new();
    let mut tables: Vec<(IpNetwork, u32)> = Vec::new();
    for ip in ips {
        let rule = source_rule(ip.address.ip(), table, s.priority);
        add_rules(pod, std::slice::from_ref(&rule)).await?;
        undo.rules.push(rule);
        let v4 = ip.address.is_ipv4();
        if let Some(gw) = s.gateway(v4, ip.gateway) {
            let dst: IpNetwork = if v4 { "0.0.0.0/0" } else { "::/0" }.parse().expect("literal network");
            let route =
                Route { dst: Some(dst), gw: Some(gw), oif: Some(link.index), table: Some(table), ..Route::default() };
            match pod.add_route(&route).await {
                Err(e) if !e.is_exists() => return Err(e.into()),
                _ => {}
            }
            undo.routes.push(route);
            reported.push(CniRoute { table: Some(table), ..CniRoute::new(dst, Some(gw)) });
        }
        // The interface's routes that belong to this address (by source or
        // gateway), and the generic ones (neither), go to its table.
        for r in &mine {
            let contains = |a: Option<std::net::IpAddr>| a.is_some_and(|a| ip.address.contains(a));
            if contains(r.src) || contains(r.gw) || (r.src.is_none() && r.gw.is_none()) {
                let copy = Route { table: Some(table), ..r.clone() };
                pod.replace_route(&copy).await?;
                undo.routes.push(copy);
                if let (Some(dst), None) = (r.dst, r.gw) {
                    reported.push(CniRoute { table: Some(table), scope: r.scope, ..CniRoute::new(dst, None) });
                }
            }
        }
        tables.push((ip.address, table));
        table = free_from(table + 1);
    }
    for r in &mine {
        let keep = s.add_source_hints && r.scope == Some(SCOPE_LINK);
        if !keep {
            pod.delete_route(r).await?;
        }
    }
    if s.add_source_hints {
        // Destination-based selection in main still picks this interface, with its address as source.
        for ip in ips {
            let Ok(subnet) = IpNetwork::new(ip.address.network(), ip.address.prefix()) else { continue };
            let hint = Route {
                dst: Some(subnet),
                oif: Some(link.index),
                src: Some(ip.address.ip()),
                table: Some(TABLE_MAIN),
                scope: Some(SCOPE_LINK),
                ..Route::default()
            };
            if let Err(e) = pod.replace_route(&hint).await {
                tracing::warn!("source hint for {subnet}: {e}");
            }
        }
    }
    // The routes prevResult had in main are in the table of the address whose gateway they use now.
    for r in prev.routes.iter_mut().filter(|r| r.table.is_none()) {
        let owner = tables.iter().find(|(a, _)| match r.gw {
            Some(gw) => a.contains(gw),
            None => a.is_ipv4() == r.dst.is_ipv4(),
        });
        r.table = owner.map(|(_, t)| *t);
    }
    for r in reported {
        if !prev.routes.iter().any(|p| p.dst == r.dst && p.table == r.table) {
            prev.routes.push(r);
        }
    }
    // Below 1.1.0 a result cannot say a route is in another table, and the
    // CHECK of the plugins before sbr looks for the routes it lists in main:
    // list only what stayed there.
    let v = cni::version::Version::parse(&prev.cni_version).unwrap_or(cni::version::Version::V1_1_0);
    if v < cni::version::Version::V1_1_0 {
        prev.routes.retain(|r| r.table.is_none());
    }
    Ok(())
}

/// DEL: the rules from this attachment's addresses (those on the interface
/// and those in `prevResult`), only those to `table` if set. A missing
/// netns or interface is success; the routes went with the interface.
pub async fn del(req: &Request, table: Option<u32>) -> Result<()> {
    let Some(ns) = attach::pod_if_present(req)? else { return Ok(()) };
    let _lock = ns.pod_ns.lock()?;
    let mut addrs = prev_addresses(req);
    if let Some(link) = ns.pod.link_by_name(&req.env.ifname).await? {
        addrs.extend(ns.pod.addresses(Some(link.index)).await?.into_iter().map(|a| a.cidr.ip()));
    }
    delete_rules_where(&ns.pod, |r| {
        r.from.is_some_and(|f| addrs.contains(&f.ip())) && table.is_none_or(|t| r.table == t)
    })
    .await?;
    Ok(())
}

/// CHECK (a no-op in the reference): per address a rule from it (to
/// `table`, at `priority`, if set); without `table`, that rule's table has
/// the default route via the gateway and the address's subnet; the
/// addresses and routes of `prevResult` are in place.
pub async fn check(req: &Request, s: &Settings, ns: &Sockets, prev: &CniResult) -> Result<()> {
    let link = pod_link(req, &ns.pod).await.map_err(|e| check_failed(e.to_string()))?;
    let ips = ips_of(&req.env.ifname, prev);
    let mut missing = Vec::new();
    for ip in &ips {
        let want = source_rule(ip.address.ip(), s.table.unwrap_or(0), s.priority);
        let rule = ns.pod.rules(want.v6).await?.into_iter().find(|r| {
            r.from == want.from
                && r.to.is_none()
                && s.table.is_none_or(|t| r.table == t)
                && s.priority.is_none_or(|p| r.priority == Some(p))
        });
        let Some(rule) = rule else {
            missing.push(format!("rule from {}", ip.address.ip()));
            continue;
        };
        if s.table.is_some() {
            continue;
        }
        let table = ns.pod.routes(ip.address.is_ipv4(), Some(rule.table)).await?;
        if let Some(gw) = s.gateway(ip.address.is_ipv4(), ip.gateway)
            && !table.iter().any(|r| r.dst.is_some_and(|d| d.prefix() == 0) && r.gw == Some(gw))
        {
            missing.push(format!("default route via {gw} in table {}", rule.table));
        }
        let subnet = IpNetwork::new(ip.address.network(), ip.address.prefix()).ok();
        if !table.iter().any(|r| r.dst == subnet && r.oif == Some(link.index)) {
            missing.push(format!("route to {} in table {}", ip.address, rule.table));
        }
    }
    if !missing.is_empty() {
        return Err(check_failed(format!("sbr for {}: {} missing", link.name, missing.join(", "))));
    }
    if let Ok(idx) = attach::prev_interface(req, prev) {
        check_addresses_and_routes(&ns.pod, &link, idx, prev).await?;
    }
    Ok(())
}
