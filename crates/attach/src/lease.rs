//! ADD's IPAM step: the lease, and the result it starts.

use crate::Result;
use cni::delegate::{IpamLease, has_ipam};
use cni::{CniResult, Request};

/// IPAM ADD (if the config has IPAM) and the result it starts: its
/// addresses on interface `iface`, its routes, and its DNS unless config
/// `dns` replaces it. The lease is released on drop unless kept.
pub fn lease(req: &Request, iface: usize) -> Result<(Option<IpamLease<'_>>, CniResult)> {
    let lease = if has_ipam(req) { Some(IpamLease::add(req)?) } else { None };
    let mut result = CniResult::default();
    if let Some(lease) = &lease {
        result.ips = lease.result.ips.clone();
        result.routes = lease.result.routes.clone();
        result.dns = lease.result.dns.clone();
    }
    for ip in &mut result.ips {
        ip.interface = Some(iface);
    }
    // The reference drops IPAM's DNS for macvlan/ipvlan/vlan; railcni lets config `dns` override it in every plugin.
    if !req.conf.dns.is_empty() {
        result.dns = req.conf.dns.clone();
    }
    Ok((lease, result))
}
