//! CHECK of a pod link against `prevResult`, for every interface plugin.

use crate::{Result, check_failed, policy};
use cni::delegate::{forward, has_ipam};
use cni::{CniResult, Command, Error as CniError, Request};
use netlink::{Link, LinkKind, Netlink, Sockets, TABLE_MAIN};

/// What the plugin created in the pod.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// The link's kind, by the kernel's name (`veth`, `macvlan`, …; empty for a device).
    pub kind: &'a str,
    /// The link must be up (false where the plugin leaves it down on purpose).
    pub up: bool,
}

/// What [`check_pod_link`] found, for the plugin's own checks.
pub struct Checked {
    pub link: Link,
    /// The link's index in `prev.interfaces`.
    pub index: usize,
    /// `prevResult` as ADD applied it (see [`policy::as_added`]).
    pub prev: CniResult,
}

/// CHECK's common part: IPAM's CHECK, then the pod's link with the kind,
/// MAC, state, addresses, routes and policy routing of `prev`.
pub async fn check_pod_link(req: &Request, ns: &Sockets, prev: &CniResult, expect: Expect<'_>) -> Result<Checked> {
    // The reference also calls IPAM CHECK for `"ipam": {}` and so always fails L2 networks.
    if has_ipam(req) {
        forward(req, Command::Check)?;
    }
    let prev = policy::as_added(req, prev)?;
    let ifname = &req.env.ifname;
    let index = prev_interface(req, &prev)?;
    let link = ns
        .pod
        .link_by_name(ifname)
        .await?
        .ok_or_else(|| check_failed(format!("interface {ifname} is missing from the pod")))?;
    if link.kind.name() != expect.kind {
        return Err(check_failed(format!("{ifname} is a {:?} link, not {}", link.kind.name(), expect.kind)));
    }
    if let Some(mac) = &prev.interfaces[index].mac
        && !mac.eq_ignore_ascii_case(&link.mac)
    {
        return Err(check_failed(format!("{ifname} has MAC {}, prevResult says {mac}", link.mac)));
    }
    if expect.up && !link.admin_up {
        return Err(check_failed(format!("{ifname} is down")));
    }
    check_addresses_and_routes(&ns.pod, &link, index, &prev).await?;
    policy::check_prev(req, ns, &link, index, &prev).await?;
    Ok(Checked { link, index, prev })
}

/// CHECK's common part for a chained plugin (tuning, portmap, firewall):
/// the interface of `prev` it works on is in the pod, up, with the
/// addresses and routes `prev` gives it. Rules or settings for an
/// interface or address the pod no longer has serve nothing.
pub async fn check_chained_link(req: &Request, ns: &Sockets, prev: &CniResult) -> Result<Link> {
    let ifname = &req.env.ifname;
    let link = ns
        .pod
        .link_by_name(ifname)
        .await?
        .ok_or_else(|| check_failed(format!("interface {ifname} is missing from the pod")))?;
    if !link.admin_up {
        return Err(check_failed(format!("{ifname} is down")));
    }
    let index = prev_interface(req, prev)?;
    check_addresses_and_routes(&ns.pod, &link, index, prev).await?;
    Ok(link)
}

/// CHECK of a link the plugin created: [`check_pod_link`], then exactly the
/// kind it was created as (mode, VLAN id, …) and the configured MTU.
pub async fn check_created_link(
    req: &Request,
    ns: &Sockets,
    prev: &CniResult,
    want: &LinkKind,
    mtu: Option<u32>,
) -> Result<Link> {
    let link = check_pod_link(req, ns, prev, Expect { kind: want.name(), up: true }).await?.link;
    if link.kind != *want {
        return Err(check_failed(format!("{} is a {}, config says {want}", link.name, link.kind)));
    }
    check_mtu(&link, mtu)?;
    Ok(link)
}

/// CHECK: `link` has the MTU the config asks for, if it asks for one.
pub fn check_mtu(link: &Link, mtu: Option<u32>) -> Result<()> {
    match mtu {
        Some(mtu) if link.mtu != mtu => {
            Err(check_failed(format!("{} has MTU {}, config says {mtu}", link.name, link.mtu)))
        }
        _ => Ok(()),
    }
}

/// The index in `prev.interfaces` of this attachment's pod interface.
pub fn prev_interface(req: &Request, prev: &CniResult) -> Result<usize, CniError> {
    let ifname = &req.env.ifname;
    prev.interfaces
        .iter()
        .position(|i| &i.name == ifname && i.sandbox.as_deref() == Some(req.env.netns.as_str()))
        .ok_or_else(|| {
            CniError::config("prevResult.interfaces", format!("no interface {ifname} in sandbox {}", req.env.netns))
        })
}

/// The addresses of `prev` on interface `idx` are on `link`, and its routes are in their tables.
pub async fn check_addresses_and_routes(pod: &Netlink, link: &Link, idx: usize, prev: &CniResult) -> Result<()> {
    let addrs = pod.addresses(Some(link.index)).await?;
    for ip in prev.ips.iter().filter(|ip| ip.interface == Some(idx)) {
        if !addrs.iter().any(|a| a.cidr == ip.address) {
            return Err(check_failed(format!("address {} is missing from {}", ip.address, link.name)));
        }
    }
    for r in &prev.routes {
        let table = r.table.unwrap_or(TABLE_MAIN);
        let present = pod.routes(r.dst.is_ipv4(), Some(table)).await?.iter().any(|k| {
            k.dst.map(|d| (d.network(), d.prefix())) == Some((r.dst.network(), r.dst.prefix()))
                && (r.gw.is_none() || k.gw == r.gw || k.nexthops.iter().any(|(g, _)| Some(*g) == r.gw))
        });
        if !present {
            return Err(check_failed(format!("route to {} (table {table}) is missing", r.dst)));
        }
    }
    Ok(())
}
