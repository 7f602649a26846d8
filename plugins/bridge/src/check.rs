//! CHECK: the bridge, both veth ends, the addresses and the routes are as ADD left them.

use crate::config::Settings;
use cni::delegate::{forward, has_ipam};
use cni::{CniResult, Command, Error, Request};
use netlink::Sockets;
use netlink::attach::check_failed;

pub async fn check(req: &Request, s: &Settings, ns: &Sockets, prev: &CniResult) -> Result<(), Error> {
    // The reference also calls IPAM CHECK for `"ipam": {}` and so always fails L2 networks.
    if has_ipam(req) {
        forward(req, Command::Check)?;
    }
    let bridge = ns
        .host
        .link_by_name(&s.conf.bridge)
        .await?
        .ok_or_else(|| check_failed(format!("bridge {} is missing", s.conf.bridge)))?;
    if bridge.kind != "bridge" {
        return Err(check_failed(format!("{} is a {:?} link, not a bridge", bridge.name, bridge.kind)));
    }
    if s.conf.promisc_mode && !bridge.promisc {
        return Err(check_failed(format!("bridge {} is not in promiscuous mode", bridge.name)));
    }
    let prev = &netlink::policy::as_added(req, prev)?;
    let ifname = &req.env.ifname;
    let idx = netlink::attach::prev_interface(req, prev)?;
    let cont = ns
        .pod
        .link_by_name(ifname)
        .await?
        .ok_or_else(|| check_failed(format!("interface {ifname} is missing from the pod")))?;
    if cont.kind != "veth" {
        return Err(check_failed(format!("{ifname} is a {:?} link, not a veth", cont.kind)));
    }
    if let Some(mac) = &prev.interfaces[idx].mac
        && !mac.eq_ignore_ascii_case(&cont.mac)
    {
        return Err(check_failed(format!("{ifname} has MAC {}, prevResult says {mac}", cont.mac)));
    }
    let peer = match cont.link {
        Some(i) => ns.host.link_by_index(i).await?,
        None => None,
    };
    let peer = peer.ok_or_else(|| check_failed(format!("the host end of {ifname} is missing")))?;
    if peer.master != Some(bridge.index) {
        return Err(check_failed(format!("host veth {} is not attached to bridge {}", peer.name, bridge.name)));
    }
    if !prev.interfaces.iter().any(|i| i.name == peer.name && i.sandbox.is_none()) {
        return Err(check_failed(format!("host veth {} is not the one in prevResult", peer.name)));
    }
    if !s.conf.disable_container_interface && !cont.admin_up {
        return Err(check_failed(format!("{ifname} is down")));
    }
    netlink::attach::check_addresses_and_routes(&ns.pod, &cont, idx, prev).await?;
    netlink::policy::check_prev(req, ns, &cont, idx, prev).await?;
    if s.conf.macspoofchk && !netlink::nft::spoofchk::present(&req.env.container_id, ifname)? {
        return Err(check_failed(format!("the MAC spoof check for {ifname} is missing")));
    }
    if s.conf.ip_masq {
        let comment = netlink::nft::masq::comment(&req.conf.name, ifname, &req.env.container_id);
        let rules = netlink::nft::masq::comments()?.into_iter().filter(|c| *c == comment).count();
        let want = prev.ips.iter().filter(|ip| ip.interface == Some(idx)).count();
        if rules < want {
            return Err(check_failed(format!("{rules} masquerade rules for {ifname}, expected {want}")));
        }
    }
    Ok(())
}
