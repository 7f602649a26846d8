//! ADD: IPAM, then a veth pair routed point to point, as the reference
//! lays it out. The pod end has its address with the gateway as a /32
//! (/128) on-link neighbour and the subnet routed via the gateway (so all
//! traffic goes through the host); the host end holds the gateway as a
//! /32 (/128) and a host route to each pod address. Undone on any failure.

use crate::config::Settings;
use attach::{Error, Options, Result};
use cni::{CniResult, Interface, IpConfig, Request};
use ipnetwork::IpNetwork;
use netlink::{Link, Route, Sockets, TABLE_MAIN, sysctl};

/// RT_SCOPE_LINK and RT_SCOPE_HOST.
const SCOPE_LINK: u8 = 253;
const SCOPE_HOST: u8 = 254;
const RTPROT_KERNEL: u8 = 2;

pub async fn add(req: &Request, s: &Settings, ns: &Sockets) -> Result<CniResult> {
    attach::ensure_free(req, ns).await?;
    // The pod's veth is interface 1: [host veth, pod veth], as in the reference.
    let (lease, mut result) = attach::lease(req, 1)?;
    gateways(&result.ips)?;
    let v4 = result.ips.iter().any(|ip| ip.address.is_ipv4());
    sysctl::enable_forwarding(v4, result.ips.iter().any(|ip| ip.address.is_ipv6()))?;
    let host_veth = attach::create_veth(req, ns, s.mtu, None).await?;
    let done = plumb(req, s, ns, &host_veth, &mut result).await;
    if done.is_err() {
        // Deleting one end removes both, and the routes and addresses on them.
        if let Err(e) = ns.host.delete_link(host_veth.index).await {
            tracing::warn!("rolling back the veth pair: {e}");
        }
        if s.ip_masq
            && let Err(e) = attach::remove_masq(req)
        {
            tracing::warn!("rolling back masquerade rules: {e}");
        }
    }
    done?;
    let result = req.chain(result)?;
    if let Some(lease) = lease {
        lease.keep();
    }
    Ok(result)
}

/// Every address needs a gateway: it is the pod's only way out.
fn gateways(ips: &[IpConfig]) -> Result<()> {
    match ips.iter().find(|ip| ip.gateway.is_none()) {
        Some(ip) => Err(Error::config("ipam", format!("address {} has no gateway; ptp routes through it", ip.address))),
        None => Ok(()),
    }
}

async fn plumb(req: &Request, s: &Settings, ns: &Sockets, host_veth: &Link, result: &mut CniResult) -> Result<()> {
    let cont = ns.pod.require_link(&req.env.ifname).await?;
    attach::configure_iface(&ns.pod, &ns.pod_ns, &ns.home, &cont, 1, result, Options::default()).await?;
    for ip in &result.ips {
        for route in pod_routes(ip, cont.index) {
            match ns.pod.add_route(&route).await {
                Err(e) if e.is_exists() => {}
                other => other?,
            }
        }
        // The kernel's connected route would make the subnet on-link; ptp routes it via the gateway.
        ns.pod.delete_route(&connected(ip, cont.index)).await?;
        let via_gw = subnet_via_gateway(ip, cont.index);
        ns.pod.add_route(&via_gw).await?;
    }
    for ip in &result.ips {
        let Some(gw) = ip.gateway else { continue };
        let host_gw = IpNetwork::new(gw, host_prefix(gw)).map_err(|e| Error::internal(e.to_string()))?;
        match ns.host.add_address(host_veth.index, host_gw, true).await {
            Err(e) if e.is_exists() => {}
            other => other?,
        }
    }
    ns.host.set_up(host_veth.index).await?;
    for ip in &result.ips {
        ns.host.add_route(&host_route(ip, host_veth.index)).await?;
    }
    if s.ip_masq {
        let ips: Vec<_> = result.ips.iter().map(|ip| ip.address).collect();
        netlink::nft::masq::setup(&req.conf.name, &req.env.ifname, &req.env.container_id, &ips)?;
    }
    result.interfaces = vec![
        Interface { name: host_veth.name.clone(), mac: Some(host_veth.mac.clone()), ..Interface::default() },
        Interface {
            name: cont.name.clone(),
            mac: Some(cont.mac.clone()),
            sandbox: Some(req.env.netns.clone()),
            ..Interface::default()
        },
    ];
    Ok(())
}

fn host_prefix(a: std::net::IpAddr) -> u8 {
    if a.is_ipv4() { 32 } else { 128 }
}

fn host_net(a: std::net::IpAddr) -> Option<IpNetwork> {
    IpNetwork::new(a, host_prefix(a)).ok()
}

/// In the pod: the gateway on-link (a /32 or /128), with the pod address as source.
fn pod_routes(ip: &IpConfig, oif: u32) -> Vec<Route> {
    let Some(gw) = ip.gateway else { return Vec::new() };
    vec![Route {
        dst: host_net(gw),
        oif: Some(oif),
        scope: Some(SCOPE_LINK),
        src: Some(ip.address.ip()),
        ..Route::default()
    }]
}

/// The route the kernel adds for the address's subnet (a delete must name its protocol).
fn connected(ip: &IpConfig, oif: u32) -> Route {
    Route {
        dst: IpNetwork::new(ip.address.network(), ip.address.prefix()).ok(),
        oif: Some(oif),
        table: Some(TABLE_MAIN),
        protocol: Some(RTPROT_KERNEL),
        ..Route::default()
    }
}

/// The subnet via the gateway, source the pod address.
fn subnet_via_gateway(ip: &IpConfig, oif: u32) -> Route {
    Route { gw: ip.gateway, src: Some(ip.address.ip()), protocol: None, ..connected(ip, oif) }
}

/// On the host: the pod address through the host end (scope host, as the reference adds it).
fn host_route(ip: &IpConfig, oif: u32) -> Route {
    let v4 = ip.address.is_ipv4();
    Route { dst: host_net(ip.address.ip()), oif: Some(oif), scope: v4.then_some(SCOPE_HOST), ..Route::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(a: &str, gw: &str) -> IpConfig {
        IpConfig { interface: Some(1), address: a.parse().unwrap(), gateway: gw.parse().ok() }
    }

    #[test]
    fn routes_go_through_the_gateway() {
        let v4 = ip("10.77.0.2/24", "10.77.0.1");
        assert_eq!(pod_routes(&v4, 3)[0].dst, "10.77.0.1/32".parse().ok());
        let sub = subnet_via_gateway(&v4, 3);
        assert_eq!(sub.dst, "10.77.0.0/24".parse().ok());
        assert_eq!(sub.gw, "10.77.0.1".parse().ok());
        assert_eq!(sub.src, "10.77.0.2".parse().ok());
        assert_eq!(host_route(&v4, 9).dst, "10.77.0.2/32".parse().ok());
        let v6 = ip("fd77::2/64", "fd77::1");
        assert_eq!(host_route(&v6, 9).dst, "fd77::2/128".parse().ok());
        assert_eq!(host_route(&v6, 9).scope, None);
        assert!(gateways(&[v4, ip("10.0.0.5/24", "")]).is_err());
    }
}
