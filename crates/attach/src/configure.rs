//! Apply a CNI result to an interface inside the pod: addresses, link up,
//! routes. Every plugin uses this one step, as the reference plugins use
//! `ipam.ConfigureIface`.

use crate::Result;
use cni::CniResult;
use netlink::{Link, Netlink, Netns, Route, sysctl};
use std::net::IpAddr;

/// Per-call choices.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Run IPv6 duplicate address detection (bridge `enabledad`). Off by
    /// default: waiting for DAD stalls pod start-up for seconds.
    pub dad: bool,
}

/// Configure `link` (at `index` in `result.interfaces`) in the pod namespace `pod_ns`.
pub async fn configure_iface(
    pod: &Netlink,
    pod_ns: &Netns,
    home: &Netns,
    link: &Link,
    index: usize,
    result: &CniResult,
    opts: Options,
) -> Result<()> {
    let ifname = link.name.as_str();
    let mine: Vec<_> = result.ips.iter().filter(|ip| ip.interface == Some(index)).collect();
    if mine.iter().any(|ip| ip.address.is_ipv6()) {
        // IPv6 must be on, and addresses must survive a link flap.
        let dad = if opts.dad { "1" } else { "0" };
        let mut keys = vec![
            (sysctl::iface("ipv6", ifname, "disable_ipv6"), "0"),
            (sysctl::iface("ipv6", ifname, "keep_addr_on_down"), "1"),
            (sysctl::iface("ipv6", ifname, "accept_dad"), dad),
        ];
        if opts.dad {
            keys.push((sysctl::iface("ipv6", ifname, "enhanced_dad"), "1"));
        }
        sysctl::set_in(pod_ns, home, &keys)?;
    }
    for ip in &mine {
        match pod.add_address(link.index, ip.address, !opts.dad).await {
            Err(e) if e.is_exists() => {}
            other => other?,
        }
    }
    pod.set_up(link.index).await?;
    for route in
        routes_for(result, &mine.iter().map(|ip| (ip.address.ip(), ip.gateway)).collect::<Vec<_>>(), link.index)
    {
        match pod.add_route(&route).await {
            Err(e) if e.is_exists() => {}
            other => other?,
        }
    }
    Ok(())
}

/// The result's routes as kernel routes on `oif`. A route without `gw`
/// uses the first gateway of its family; routes to the same destination
/// (and table and metric) with different gateways become one ECMP route.
pub fn routes_for(result: &CniResult, ips: &[(IpAddr, Option<IpAddr>)], oif: u32) -> Vec<Route> {
    let default_gw = |v4: bool| ips.iter().find_map(|(a, gw)| gw.filter(|_| a.is_ipv4() == v4));
    let mut out: Vec<Route> = Vec::new();
    for r in &result.routes {
        let gw = r.gw.or_else(|| default_gw(r.dst.is_ipv4()));
        let same = out.iter_mut().find(|o| o.dst == Some(r.dst) && o.table == r.table && o.metric == r.priority);
        match (same, gw) {
            (Some(existing), Some(gw)) if existing.gw != Some(gw) => {
                if existing.nexthops.is_empty() {
                    if let Some(first) = existing.gw.take() {
                        existing.nexthops.push((first, oif));
                    }
                    existing.oif = None;
                }
                if !existing.nexthops.iter().any(|(g, _)| *g == gw) {
                    existing.nexthops.push((gw, oif));
                }
            }
            (Some(_), _) => {}
            (None, gw) => out.push(Route {
                dst: Some(r.dst),
                gw,
                oif: Some(oif),
                table: r.table,
                scope: r.scope,
                metric: r.priority,
                ..Route::default()
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cni::Route as CniRoute;

    #[test]
    fn ecmp_routes_merge_and_missing_gateways_default() {
        let result = CniResult {
            routes: vec![
                CniRoute::new("0.0.0.0/0".parse().unwrap(), None),
                CniRoute::new("10.9.0.0/16".parse().unwrap(), "10.0.0.1".parse().ok()),
                CniRoute::new("10.9.0.0/16".parse().unwrap(), "10.0.0.2".parse().ok()),
            ],
            ..CniResult::default()
        };
        let ips = [("10.0.0.5".parse().unwrap(), "10.0.0.254".parse().ok())];
        let routes = routes_for(&result, &ips, 7);
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[0].gw, "10.0.0.254".parse().ok());
        assert_eq!(routes[1].nexthops, [("10.0.0.1".parse().unwrap(), 7), ("10.0.0.2".parse().unwrap(), 7)]);
        assert_eq!(routes[1].oif, None);
    }
}
