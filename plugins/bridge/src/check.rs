//! CHECK: the shared pod-link checks (the veth in the pod, its addresses,
//! routes and policy routing), then the bridge, the host end and the
//! bridge's own extras (MAC spoof check, masquerading).

use crate::config::Settings;
use attach::{Expect, Result, check_failed};
use cni::{CniResult, Request};
use netlink::{LinkKind, Sockets};

pub async fn check(req: &Request, s: &Settings, ns: &Sockets, prev: &CniResult) -> Result<()> {
    let up = !s.conf.disable_container_interface;
    let pod = attach::check_pod_link(req, ns, prev, Expect { kind: "veth", up }).await?;
    let bridge = ns
        .host
        .link_by_name(&s.conf.bridge)
        .await?
        .ok_or_else(|| check_failed(format!("bridge {} is missing", s.conf.bridge)))?;
    if bridge.kind != LinkKind::Bridge {
        return Err(check_failed(format!("{} is a {:?} link, not a bridge", bridge.name, bridge.kind.name())));
    }
    if s.conf.promisc_mode && !bridge.promisc {
        return Err(check_failed(format!("bridge {} is not in promiscuous mode", bridge.name)));
    }
    let ifname = &req.env.ifname;
    let peer = attach::check_veth_peer(req, ns, &pod).await?;
    if peer.master != Some(bridge.index) {
        return Err(check_failed(format!("host veth {} is not attached to bridge {}", peer.name, bridge.name)));
    }
    if s.conf.macspoofchk && !netlink::nft::spoofchk::present(&req.env.container_id, ifname)? {
        return Err(check_failed(format!("the MAC spoof check for {ifname} is missing")));
    }
    if s.conf.ip_masq {
        attach::check_masq(req, &pod)?;
    }
    Ok(())
}
