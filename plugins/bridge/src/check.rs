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
    let peer = match pod.link.link {
        Some(i) => ns.host.link_by_index(i).await?,
        None => None,
    };
    let peer = peer.ok_or_else(|| check_failed(format!("the host end of {ifname} is missing")))?;
    if peer.master != Some(bridge.index) {
        return Err(check_failed(format!("host veth {} is not attached to bridge {}", peer.name, bridge.name)));
    }
    if !pod.prev.interfaces.iter().any(|i| i.name == peer.name && i.sandbox.is_none()) {
        return Err(check_failed(format!("host veth {} is not the one in prevResult", peer.name)));
    }
    if s.conf.macspoofchk && !netlink::nft::spoofchk::present(&req.env.container_id, ifname)? {
        return Err(check_failed(format!("the MAC spoof check for {ifname} is missing")));
    }
    if s.conf.ip_masq {
        let comment = netlink::nft::masq::comment(&req.conf.name, ifname, &req.env.container_id);
        let rules = netlink::nft::masq::comments()?.into_iter().filter(|c| *c == comment).count();
        let want = pod.prev.ips.iter().filter(|ip| ip.interface == Some(pod.index)).count();
        if rules < want {
            return Err(check_failed(format!("{rules} masquerade rules for {ifname}, expected {want}")));
        }
    }
    Ok(())
}
