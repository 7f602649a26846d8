//! Per-rail policy routing in the pod (the `policyRouting` block, see
//! `cni::policy`): multi-NIC sysctls, a routing table with the rail's
//! connected, default and IPAM routes, and `from <addr> lookup <table>`
//! rules. Shared by every interface plugin through [`configure`], [`del`]
//! and [`check`].
//!
//! The kernel drops a table's routes with their link, but never rules: DEL
//! removes exactly this attachment's rules, found by the table and priority
//! the config derives and the attachment's own addresses, so rails never
//! delete each other's rules.

use crate::configure::{Options, configure_iface, routes_for};
use crate::{Error, Result, check_failed};
use cni::policy::{Policy, Sysctls};
use cni::{CniResult, IpConfig, Request, Route as CniRoute};
use ipnetwork::IpNetwork;
use netlink::{Link, Netlink, Route, Rule, Sockets, sysctl};
use std::net::IpAddr;

/// RT_SCOPE_LINK.
const SCOPE_LINK: u8 = 253;
const ENETUNREACH: i32 = 101;

/// A route of the rail's table: what the result reports, and the source hint the kernel gets.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRoute {
    pub route: CniRoute,
    pub src: Option<IpAddr>,
}

/// The routes of `policy.table` for an interface with addresses `ips`:
/// each address's connected subnet (scope link, `src` the address), a
/// default route per family via the configured or IPAM gateway, and the
/// IPAM `routes` that name no table of their own.
pub fn table_routes(policy: &Policy, ips: &[IpConfig], routes: &[CniRoute]) -> Vec<TableRoute> {
    let table = Some(policy.table);
    let mut out: Vec<TableRoute> = Vec::new();
    for ip in ips {
        let a = ip.address;
        if a.prefix() == if a.is_ipv4() { 32 } else { 128 } {
            continue; // No subnet: nothing is on-link.
        }
        let Ok(dst) = IpNetwork::new(a.network(), a.prefix()) else { continue };
        if out.iter().any(|r| r.route.dst == dst) {
            continue;
        }
        let route = CniRoute { table, scope: Some(SCOPE_LINK), ..CniRoute::new(dst, None) };
        out.push(TableRoute { route, src: Some(a.ip()) });
    }
    for r in routes.iter().filter(|r| r.table.is_none()) {
        out.push(TableRoute { route: CniRoute { table, ..r.clone() }, src: None });
    }
    for v4 in [true, false] {
        let has_default = out.iter().any(|r| r.route.dst.is_ipv4() == v4 && r.route.dst.prefix() == 0);
        if has_default || !ips.iter().any(|ip| ip.address.is_ipv4() == v4) {
            continue;
        }
        if let Some(gw) = gateway(policy, ips, v4) {
            let dst = if v4 { "0.0.0.0/0" } else { "::/0" };
            let route = CniRoute { table, ..CniRoute::new(dst.parse().expect("literal network"), Some(gw)) };
            out.push(TableRoute { route, src: None });
        }
    }
    out
}

/// The configured gateway of a family, or the first IPAM one.
fn gateway(policy: &Policy, ips: &[IpConfig], v4: bool) -> Option<IpAddr> {
    policy
        .gateways
        .iter()
        .copied()
        .find(|g| g.is_ipv4() == v4)
        .or_else(|| ips.iter().find_map(|ip| ip.gateway.filter(|g| g.is_ipv4() == v4)))
}

/// Kernel routes on `oif` for the table routes. Routes without `gw` leave
/// through the family's gateway, as in main (connected ones stay on-link).
fn kernel_routes(policy: &Policy, ips: &[IpConfig], table: &[TableRoute], oif: u32) -> Vec<Route> {
    let gws: Vec<(IpAddr, Option<IpAddr>)> =
        ips.iter().map(|ip| (ip.address.ip(), gateway(policy, ips, ip.address.is_ipv4()))).collect();
    let mut out = Vec::new();
    for t in table {
        if t.src.is_some() {
            out.push(Route {
                dst: Some(t.route.dst),
                oif: Some(oif),
                table: t.route.table,
                scope: Some(SCOPE_LINK),
                src: t.src,
                ..Route::default()
            });
        } else {
            let one = CniResult { routes: vec![t.route.clone()], ..CniResult::default() };
            out.extend(routes_for(&one, &gws, oif));
        }
    }
    out
}

/// `from <addr>/32|/128 lookup <table>` for every address, and the optional `oif` rules.
pub fn rules(policy: &Policy, ifname: &str, ips: &[IpConfig]) -> Vec<Rule> {
    let mut out: Vec<Rule> =
        ips.iter().map(|ip| source_rule(ip.address.ip(), policy.table, Some(policy.priority))).collect();
    if policy.oif_rule {
        for v4 in [true, false] {
            if ips.iter().any(|ip| ip.address.is_ipv4() == v4) {
                out.push(Rule {
                    v6: !v4,
                    priority: Some(policy.priority),
                    oif: Some(ifname.to_string()),
                    table: policy.table,
                    ..Rule::default()
                });
            }
        }
    }
    out
}

/// `from <addr> lookup <table>` (host prefix), at `priority` or the kernel's choice.
pub fn source_rule(addr: IpAddr, table: u32, priority: Option<u32>) -> Rule {
    let host = if addr.is_ipv4() { 32 } else { 128 };
    Rule { v6: addr.is_ipv6(), priority, from: IpNetwork::new(addr, host).ok(), table, ..Rule::default() }
}

/// Add `rules`; an equal rule already there counts as added. On failure the
/// ones added here are deleted again.
pub async fn add_rules(pod: &Netlink, rules: &[Rule]) -> Result<()> {
    for (i, rule) in rules.iter().enumerate() {
        match pod.add_rule(rule).await {
            Err(e) if !e.is_exists() => {
                delete_rules(pod, &rules[..i]).await;
                return Err(e.into());
            }
            _ => {}
        }
    }
    Ok(())
}

/// Best effort, for rollbacks: a failure is logged.
pub async fn delete_rules(pod: &Netlink, rules: &[Rule]) {
    for rule in rules {
        if let Err(e) = pod.delete_rule(rule).await {
            tracing::warn!("rolling back rule {rule:?}: {e}");
        }
    }
}

/// Write the interface sysctls. Run after the link entered the pod (a move
/// resets them) and before it goes up. `conf/all/rp_filter` is lowered to
/// the wanted value if it is above it: the kernel uses max(all, interface).
pub fn set_sysctls(ns: &Sockets, ifname: &str, s: &Sysctls) -> Result<()> {
    ns.in_pod(|| -> Result<()> {
        for (key, value) in s.pairs() {
            sysctl::set(&sysctl::iface("ipv4", ifname, key), &value.to_string())?;
        }
        if let Some(rp) = s.rp_filter {
            let all = sysctl::iface("ipv4", "all", "rp_filter");
            if sysctl::get(&all)?.parse::<u8>().unwrap_or(0) > rp {
                sysctl::set(&all, &rp.to_string())?;
            }
        }
        Ok(())
    })?
}

/// ADD's address step for an interface plugin: [`configure_iface`], and with
/// a policy also the sysctls (before up), the rail's table and its rules. The
/// result's routes become the table's (`routes[].table`). On failure the
/// rules are gone again; the caller deletes the link (and with it the routes).
pub async fn configure(
    ns: &Sockets,
    link: &Link,
    index: usize,
    result: &mut CniResult,
    policy: Option<&Policy>,
    opts: Options,
) -> Result<()> {
    let Some(policy) = policy else {
        return configure_iface(&ns.pod, &ns.pod_ns, &ns.home, link, index, result, opts).await;
    };
    let ips: Vec<IpConfig> = result.ips.iter().filter(|ip| ip.interface == Some(index)).cloned().collect();
    set_sysctls(ns, &link.name, &policy.sysctls)?;
    let table = table_routes(policy, &ips, &result.routes);
    // Routes that name their own table stay where IPAM put them; the rest move to the rail's.
    result.routes.retain(|r| r.table.is_some());
    configure_iface(&ns.pod, &ns.pod_ns, &ns.home, link, index, result, opts).await?;
    for route in kernel_routes(policy, &ips, &table, link.index) {
        match ns.pod.add_route(&route).await {
            Err(e) if e.is_exists() => {}
            // A gateway outside every subnet of the interface: the config's fault, not the kernel's.
            Err(e) if e.errno() == Some(ENETUNREACH) => {
                let field = if policy.gateways.is_empty() { "ipam" } else { "policyRouting.gateways" };
                return Err(Error::config(field, format!("{e}: the gateway is not reachable on {}", link.name)));
            }
            other => other?,
        }
    }
    add_rules(&ns.pod, &rules(policy, &link.name, &ips)).await?;
    result.routes.extend(table.into_iter().map(|t| t.route));
    Ok(())
}

/// This attachment's addresses as `prevResult` lists them, if it is there.
pub fn prev_addresses(req: &Request) -> Vec<IpAddr> {
    let Ok(Some(prev)) = req.prev_result() else { return Vec::new() };
    let ours: Vec<usize> = prev
        .interfaces
        .iter()
        .enumerate()
        .filter(|(_, i)| i.name == req.env.ifname && i.sandbox.is_some())
        .map(|(n, _)| n)
        .collect();
    prev.ips.iter().filter(|ip| ip.interface.is_none_or(|i| ours.contains(&i))).map(|ip| ip.address.ip()).collect()
}

/// DEL, before the link goes: delete this attachment's rules (the policy's
/// table and priority, from one of its addresses, or `oif` its interface).
/// Its addresses come from the link, if still there, and `prevResult`.
/// Without either, any host-prefix rule of the table and priority is
/// taken as ours: the table is this rail's alone.
pub async fn del(req: &Request, pod: &Netlink, link: Option<&Link>) -> Result<()> {
    let Some(policy) = req.policy()? else { return Ok(()) };
    let mut addrs = prev_addresses(req);
    if let Some(link) = link {
        addrs.extend(pod.addresses(Some(link.index)).await?.into_iter().map(|a| a.cidr.ip()));
    }
    delete_rules_where(pod, |rule| {
        if rule.table != policy.table || rule.priority != Some(policy.priority) || rule.to.is_some() {
            return false;
        }
        let host = if rule.v6 { 128 } else { 32 };
        match (&rule.from, &rule.oif) {
            (Some(from), None) => from.prefix() == host && (addrs.is_empty() || addrs.contains(&from.ip())),
            (None, Some(oif)) => *oif == req.env.ifname,
            _ => false,
        }
    })
    .await?;
    Ok(())
}

/// Delete every rule (both families) that `mine` picks.
pub async fn delete_rules_where(pod: &Netlink, mine: impl Fn(&Rule) -> bool) -> Result<()> {
    for v6 in [false, true] {
        for rule in pod.rules(v6).await?.iter().filter(|r| mine(r)) {
            pod.delete_rule(rule).await?;
        }
    }
    Ok(())
}

/// CHECK: the rules, the table's routes and the sysctls of the policy are in
/// place for `link` with addresses `ips` (and the reported `routes`).
/// Every difference is reported, not just the first.
pub async fn check(req: &Request, ns: &Sockets, link: &Link, ips: &[IpConfig], routes: &[CniRoute]) -> Result<()> {
    let Some(policy) = req.policy()? else { return Ok(()) };
    let mut missing = Vec::new();
    let have_v4 = ns.pod.rules(false).await?;
    let have_v6 = ns.pod.rules(true).await?;
    for want in rules(&policy, &link.name, ips) {
        let have = if want.v6 { &have_v6 } else { &have_v4 };
        if !have.iter().any(|r| same_rule(r, &want)) {
            missing.push(format!("rule {}", describe_rule(&want)));
        }
    }
    // The IPAM routes ADD moved into the table are reported with it; compare as IPAM gave them.
    let connected = table_routes(&policy, ips, &[]);
    let ipam: Vec<CniRoute> = routes
        .iter()
        .filter(|r| r.table == Some(policy.table) || r.table.is_none())
        .filter(|r| r.gw.is_some() || !connected.iter().any(|c| c.src.is_some() && c.route.dst == r.dst))
        .map(|r| CniRoute { table: None, ..r.clone() })
        .collect();
    for want in kernel_routes(&policy, ips, &table_routes(&policy, ips, &ipam), link.index) {
        let present = ns.pod.routes(want.dst.is_none_or(|d| d.is_ipv4()), want.table).await?.iter().any(|k| {
            k.dst == want.dst
                && k.oif.is_none_or(|o| o == link.index)
                && (want.gw.is_none() || k.gw == want.gw)
                && want.nexthops.iter().all(|h| k.nexthops.contains(h))
        });
        if !present {
            missing.push(format!(
                "route {} in table {}",
                want.dst.map(|d| d.to_string()).unwrap_or_default(),
                policy.table
            ));
        }
    }
    let ifname = link.name.clone();
    let wanted = policy.sysctls;
    let read = ns.in_pod(move || -> Result<Vec<String>, netlink::Error> {
        let mut wrong = Vec::new();
        for (key, value) in wanted.pairs() {
            let k = sysctl::iface("ipv4", &ifname, key);
            let have = sysctl::get(&k)?;
            if have != value.to_string() {
                wrong.push(format!("{k} is {have}, not {value}"));
            }
        }
        if let Some(rp) = wanted.rp_filter {
            let k = sysctl::iface("ipv4", "all", "rp_filter");
            let all: u8 = sysctl::get(&k)?.parse().unwrap_or(0);
            if all > rp {
                wrong.push(format!("{k} is {all}, which overrides {ifname}'s {rp}"));
            }
        }
        Ok(wrong)
    })??;
    missing.extend(read);
    if missing.is_empty() {
        return Ok(());
    }
    Err(check_failed(format!("policy routing for {}: {}", link.name, missing.join("; "))))
}

/// `prev` as ADD applied it: with a policy, routes naming no table went to
/// the rail's. A result below 1.1.0 (or a runtime that dropped the field)
/// has no `routes[].table`, so CHECK must not look for them in main.
pub fn as_added(req: &Request, prev: &CniResult) -> Result<CniResult> {
    let mut prev = prev.clone();
    if let Some(policy) = req.policy()? {
        for r in prev.routes.iter_mut().filter(|r| r.table.is_none()) {
            r.table = Some(policy.table);
        }
    }
    Ok(prev)
}

/// [`check`] with the addresses and routes `prev` gives interface `idx`.
pub async fn check_prev(req: &Request, ns: &Sockets, link: &Link, idx: usize, prev: &CniResult) -> Result<()> {
    let ips: Vec<IpConfig> = prev.ips.iter().filter(|ip| ip.interface == Some(idx)).cloned().collect();
    check(req, ns, link, &ips, &prev.routes).await
}

fn same_rule(have: &Rule, want: &Rule) -> bool {
    have.priority == want.priority
        && have.table == want.table
        && have.from == want.from
        && have.oif == want.oif
        && have.to.is_none()
        && have.iif.is_none()
}

fn describe_rule(r: &Rule) -> String {
    let mut s = format!("{}:", r.priority.map(|p| p.to_string()).unwrap_or_default());
    if let Some(from) = r.from {
        s += &format!(" from {from}");
    }
    if let Some(oif) = &r.oif {
        s += &format!(" oif {oif}");
    }
    s + &format!(" lookup {}", r.table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cni::policy::Sysctls;

    fn policy() -> Policy {
        Policy { table: 1003, priority: 1003, oif_rule: true, gateways: vec![], sysctls: Sysctls::RDMA }
    }

    fn ip(a: &str, gw: Option<&str>) -> IpConfig {
        IpConfig { interface: Some(0), address: a.parse().unwrap(), gateway: gw.map(|g| g.parse().unwrap()) }
    }

    #[test]
    fn table_has_connected_default_and_ipam_routes() {
        let ips = [ip("10.3.0.5/24", Some("10.3.0.1")), ip("fd03::5/64", None)];
        let ipam = [CniRoute::new("172.16.0.0/16".parse().unwrap(), None)];
        let t = table_routes(&policy(), &ips, &ipam);
        let dsts: Vec<String> = t.iter().map(|r| r.route.dst.to_string()).collect();
        assert_eq!(dsts, ["10.3.0.0/24", "fd03::/64", "172.16.0.0/16", "0.0.0.0/0"]);
        assert!(t.iter().all(|r| r.route.table == Some(1003)));
        assert_eq!(t[0].src, "10.3.0.5".parse().ok());
        let k = kernel_routes(&policy(), &ips, &t, 9);
        assert_eq!(k[2].gw, "10.3.0.1".parse().ok(), "IPAM routes without gw leave via the gateway");
        assert_eq!(k[3].gw, "10.3.0.1".parse().ok());
    }

    #[test]
    fn configured_gateway_wins_and_ipam_default_is_not_doubled() {
        let mut p = policy();
        p.gateways = vec!["10.3.0.254".parse().unwrap()];
        let ips = [ip("10.3.0.5/24", Some("10.3.0.1"))];
        let t = table_routes(&p, &ips, &[]);
        assert_eq!(t[1].route.gw, "10.3.0.254".parse().ok());
        let ipam = [CniRoute::new("0.0.0.0/0".parse().unwrap(), "10.3.0.7".parse().ok())];
        let t = table_routes(&p, &ips, &ipam);
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].route.gw, "10.3.0.7".parse().ok());
    }

    #[test]
    fn rules_per_address_and_oif() {
        let ips = [ip("10.3.0.5/24", None), ip("fd03::5/64", None)];
        let r = rules(&policy(), "net3", &ips);
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].from, "10.3.0.5/32".parse().ok());
        assert_eq!(r[1].from, "fd03::5/128".parse().ok());
        assert!(r[1].v6 && r[3].v6);
        assert_eq!(r[2].oif.as_deref(), Some("net3"));
    }
}
