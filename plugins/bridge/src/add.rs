//! ADD: bridge, veth pair, IPAM, addresses and routes; undone on any failure.

use crate::config::Settings;
use attach::{Error, Options, Result};
use cni::delegate::has_ipam;
use cni::{CniResult, Interface, Request, Route};
use netlink::{BridgeSpec, Link, Sockets, sysctl};
use std::time::Duration;

/// How long the host end of the veth may take to come up: the reference
/// gives up after ~2.5 s of sleeps; here it is an event wait with that bound.
const PORT_UP_TIMEOUT: Duration = Duration::from_millis(2500);

pub async fn add(req: &Request, s: &Settings, ns: &Sockets) -> Result<CniResult> {
    attach::ensure_free(req, ns).await?;
    let bridge = ns
        .host
        .ensure_bridge(&BridgeSpec {
            name: &s.conf.bridge,
            mtu: s.mtu,
            vlan_filtering: s.vlan_filtering(),
            promisc: s.conf.promisc_mode,
            pin_mac: s.conf.is_gateway,
        })
        .await?;
    // The bridge must not learn routes from router advertisements sent by pods.
    match sysctl::set(&sysctl::iface("ipv6", &s.conf.bridge, "accept_ra"), "0") {
        Err(e) if e.is_not_found() => {} // IPv6 is disabled on this node.
        other => other?,
    }
    tracing::debug!(bridge = %bridge.name, "bridge ready");
    let host_veth = attach::create_veth(req, ns, s.mtu, s.mac.clone()).await?;
    tracing::debug!(host = %host_veth.name, "veth pair created");
    let result = plumb(req, s, ns, &bridge, &host_veth).await;
    if result.is_err() {
        // Deleting one end removes both; the IPAM lease was already released in `plumb`.
        if let Err(e) = ns.host.delete_link(host_veth.index).await {
            tracing::warn!("rolling back the veth pair: {e}");
        }
        if s.conf.ip_masq
            && let Err(e) = attach::remove_masq(req)
        {
            tracing::warn!("rolling back masquerade rules: {e}");
        }
        if s.conf.macspoofchk
            && let Err(e) = netlink::nft::spoofchk::teardown(&req.env.container_id, &req.env.ifname)
        {
            tracing::warn!("rolling back the MAC spoof check: {e}");
        }
    }
    result
}

async fn plumb(req: &Request, s: &Settings, ns: &Sockets, bridge: &Link, host_veth: &Link) -> Result<CniResult> {
    let host = &ns.host;
    // The pod end, read once: its MAC is fixed from creation.
    let cont = ns.pod.require_link(&req.env.ifname).await?;
    // The pod end is still down, so nothing flows before the port options below.
    host.set_master_up(host_veth.index, bridge.index).await?;
    if s.conf.hairpin_mode || s.conf.port_isolation {
        host.set_bridge_port(host_veth.index, s.conf.hairpin_mode, s.conf.port_isolation).await?;
    }
    configure_port_vlans(s, ns, host_veth.index).await?;
    if s.conf.macspoofchk {
        let mac = netlink::parse_mac(&cont.mac)
            .ok_or_else(|| Error::internal(format!("{} has no usable MAC ({:?})", cont.name, cont.mac)))?;
        netlink::nft::spoofchk::setup(&req.env.container_id, &req.env.ifname, &host_veth.name, &mac)?;
    }

    // The pod's veth is interface 2: [bridge, host veth, pod veth], as in the reference.
    let (lease, mut result) = attach::lease(req, 2)?;
    tracing::debug!("IPAM done");
    if s.conf.is_default_gateway {
        add_default_routes(&mut result);
    }

    let ifname = &req.env.ifname;
    pod_sysctls(req, s, ns)?;
    if !s.conf.disable_container_interface {
        let opts = Options { dad: s.conf.enabledad };
        attach::policy::configure(ns, &cont, 2, &mut result, s.policy.as_ref(), opts).await?;
    }
    tracing::debug!("pod interface configured");
    if s.conf.is_gateway {
        crate::gateway::ensure(s, ns, bridge, &result).await?;
    }
    if s.conf.ip_masq {
        let ips: Vec<_> = result.ips.iter().map(|ip| ip.address).collect();
        netlink::nft::masq::setup(&req.conf.name, ifname, &req.env.container_id, &ips)?;
    }
    let host_veth = if s.conf.disable_container_interface {
        host_veth.clone()
    } else {
        host.wait_oper_up(host_veth.index, PORT_UP_TIMEOUT).await?
    };
    tracing::debug!("host port up");
    // Read last: a bridge without a fixed MAC takes its ports' lowest MAC.
    let bridge = host.require_link(&s.conf.bridge).await?;
    result.interfaces = vec![
        Interface { name: bridge.name, mac: Some(bridge.mac), ..Interface::default() },
        Interface { name: host_veth.name, mac: Some(host_veth.mac), ..Interface::default() },
        Interface {
            name: cont.name,
            mac: Some(cont.mac),
            sandbox: Some(req.env.netns.clone()),
            ..Interface::default()
        },
    ];
    let result = req.chain(result)?;
    if let Some(lease) = lease {
        lease.keep();
    }
    Ok(result)
}

/// Access VLAN (untagged, PVID) and trunk VLANs (tagged) on the host port.
async fn configure_port_vlans(s: &Settings, ns: &Sockets, port: u32) -> Result<()> {
    if !s.vlan_filtering() {
        return Ok(());
    }
    if !s.conf.preserve_default_vlan {
        // The bridge puts new ports in VLAN 1 untagged; the reference removes it.
        match ns.host.bridge_vlan_del(port, 1).await {
            Err(e) if !e.is_not_found() => return Err(e.into()),
            _ => {}
        }
    }
    if let Some(vid) = s.vlan {
        ns.host.bridge_vlan_add(port, vid, None, true).await?;
    }
    for (from, to) in &s.trunk {
        ns.host.bridge_vlan_add(port, *from, Some(*to), false).await?;
    }
    Ok(())
}

/// `isDefaultGateway`: a default route via the gateway of each family that has none.
fn add_default_routes(result: &mut CniResult) {
    for v4 in [true, false] {
        let has_default = result.routes.iter().any(|r| r.dst.is_ipv4() == v4 && r.dst.prefix() == 0);
        let gw = result.ips.iter().find(|ip| ip.address.is_ipv4() == v4).and_then(|ip| ip.gateway);
        if let (false, Some(gw)) = (has_default, gw) {
            let dst = if v4 { "0.0.0.0/0" } else { "::/0" };
            result.routes.push(Route::new(dst.parse().expect("literal network"), Some(gw)));
        }
    }
}

/// With IPAM, `arp_notify` announces the address on link up, and
/// `accept_dad` follows `enabledad` whatever the address family. L2 pods
/// are left alone. Both as in the reference.
fn pod_sysctls(req: &Request, s: &Settings, ns: &Sockets) -> Result<()> {
    if !has_ipam(req) {
        return Ok(());
    }
    let ifname = &req.env.ifname;
    let dad = if s.conf.enabledad { "1" } else { "0" };
    ns.in_pod(|| -> Result<(), netlink::Error> {
        sysctl::set(&sysctl::iface("ipv4", ifname, "arp_notify"), "1")?;
        match sysctl::set(&sysctl::iface("ipv6", ifname, "accept_dad"), dad) {
            Err(e) if e.is_not_found() => Ok(()), // IPv6 is disabled in the pod.
            other => other,
        }
    })??;
    Ok(())
}
