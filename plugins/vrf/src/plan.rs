//! The pure part of vrf's ADD: which table a new VRF gets, and which of the
//! interface's routes move into it.

use crate::config::is_usable_table;
use netlink::{Addr, Route};

/// RT_SCOPE_UNIVERSE and RTPROT_KERNEL.
const SCOPE_UNIVERSE: u8 = 0;
const RTPROT_KERNEL: u8 = 2;

/// The first table id from 1 that no VRF in `taken` uses (and that is not
/// one of the kernel's own tables).
pub fn free_table(taken: &[u32]) -> u32 {
    (1..=u32::MAX).find(|t| is_usable_table(*t as i64) && !taken.contains(t)).unwrap_or(u32::MAX)
}

/// The routes of interface `oif` that enslaving drops and the plugin puts
/// back in `table`: universe scope, through `oif`, not the kernel's own
/// (the kernel moves connected and local routes itself).
pub fn routes_to_move(routes: &[Route], oif: u32, table: u32) -> Vec<Route> {
    routes
        .iter()
        .filter(|r| r.oif == Some(oif) || r.nexthops.iter().any(|(_, i)| *i == oif))
        .filter(|r| r.scope.unwrap_or(SCOPE_UNIVERSE) == SCOPE_UNIVERSE && r.protocol != Some(RTPROT_KERNEL))
        .map(|r| Route { table: Some(table), ..r.clone() })
        .collect()
}

/// The IPv6 global addresses enslaving removes, to be added again.
pub fn v6_to_restore(addrs: &[Addr]) -> Vec<Addr> {
    addrs.iter().filter(|a| a.global && a.cidr.is_ipv6()).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_skip_those_in_use_and_the_kernels() {
        assert_eq!(free_table(&[]), 1);
        assert_eq!(free_table(&[1, 2, 4]), 3);
        let busy: Vec<u32> = (1..=252).collect();
        assert_eq!(free_table(&busy), 256);
    }

    #[test]
    fn only_gateway_routes_of_the_interface_move() {
        let r = |dst: &str, oif, scope, protocol| Route {
            dst: dst.parse().ok(),
            oif: Some(oif),
            scope: Some(scope),
            protocol: Some(protocol),
            gw: "10.0.0.1".parse().ok(),
            ..Route::default()
        };
        let routes = [
            r("0.0.0.0/0", 5, 0, 3),
            r("10.9.0.0/16", 5, 0, 4),
            r("10.0.0.0/24", 5, 253, 2),
            r("0.0.0.0/0", 6, 0, 3),
            r("fe80::/64", 5, 0, 2),
        ];
        let moved = routes_to_move(&routes, 5, 100);
        assert_eq!(moved.len(), 2);
        assert!(moved.iter().all(|m| m.table == Some(100) && m.oif == Some(5)));
    }

    #[test]
    fn only_global_v6_addresses_are_restored() {
        let a = |cidr: &str, global| Addr { index: 5, cidr: cidr.parse().unwrap(), global };
        let kept = v6_to_restore(&[a("10.0.0.5/24", true), a("fd00::5/64", true), a("fe80::1/64", false)]);
        assert_eq!(kept, [a("fd00::5/64", true)]);
    }
}
