//! The veth pair of the routed and bridged plugins (bridge, ptp): its
//! creation with the pod end born in the pod, and CHECK of its host end
//! and of the masquerading of its addresses.

use crate::{Checked, Error, Result, check_failed};
use cni::Request;
use netlink::{Link, Sockets, VethSpec};

/// The pair: the pod end is born in the pod namespace with its final name
/// (`CNI_IFNAME`), so nothing is moved and no name can clash on the host;
/// the host end is named by [`veth_name`]. Returns the host end.
pub async fn create_veth(req: &Request, ns: &Sockets, mtu: Option<u32>, pod_mac: Option<Vec<u8>>) -> Result<Link> {
    let mut name = veth_name(&req.env.container_id, &req.env.ifname, 0);
    for attempt in 1..=10 {
        let spec = VethSpec {
            name: &name,
            peer: &req.env.ifname,
            peer_ns_fd: ns.pod_ns.fd(),
            mtu,
            peer_mac: pod_mac.clone(),
            // The reference creates both ends with a queue length of 0.
            txqueuelen: Some(0),
        };
        match ns.host.add_veth(&spec).await {
            Ok(()) => return Ok(ns.host.require_link(&name).await?),
            // The host name is taken (a hash collision or a leftover): try another.
            Err(e) if e.is_exists() => name = veth_name(&req.env.container_id, &req.env.ifname, attempt),
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::internal("could not find a free host veth name after 10 tries"))
}

/// The host end's name: `veth` + 8 hex digits, derived from the attachment
/// so it is stable for a pod (and readable in `ip link`), with `attempt`
/// picking another name if that one is taken.
pub fn veth_name(container_id: &str, ifname: &str, attempt: u32) -> String {
    let key = format!("{container_id}\0{ifname}\0{attempt}");
    let hash = key.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ b as u32).wrapping_mul(0x0100_0193));
    format!("veth{hash:08x}")
}

/// CHECK: the host end of the pod's veth exists and is the one `prevResult` lists.
pub async fn check_veth_peer(req: &Request, ns: &Sockets, pod: &Checked) -> Result<Link> {
    let ifname = &req.env.ifname;
    let peer = match pod.link.link {
        Some(i) => ns.host.link_by_index(i).await?,
        None => None,
    };
    let peer = peer.ok_or_else(|| check_failed(format!("the host end of {ifname} is missing")))?;
    if !pod.prev.interfaces.iter().any(|i| i.name == peer.name && i.sandbox.is_none()) {
        return Err(check_failed(format!("host veth {} is not the one in prevResult", peer.name)));
    }
    Ok(peer)
}

/// CHECK of `ipMasq`: a masquerade rule for each of the pod interface's addresses.
pub fn check_masq(req: &Request, pod: &Checked) -> Result<()> {
    let ifname = &req.env.ifname;
    let comment = netlink::nft::masq::comment(&req.conf.name, ifname, &req.env.container_id);
    let rules = netlink::nft::masq::comments()?.into_iter().filter(|c| *c == comment).count();
    let want = pod.prev.ips.iter().filter(|ip| ip.interface == Some(pod.index)).count();
    if rules < want {
        return Err(check_failed(format!("{rules} masquerade rules for {ifname}, expected {want}")));
    }
    Ok(())
}

/// DEL of `ipMasq`: the rules are found by attachment, not by address, so
/// this works after the netns (and the addresses) are gone (plugins#810).
pub fn remove_masq(req: &Request) -> Result<()> {
    Ok(netlink::nft::masq::teardown(&req.conf.name, &req.env.ifname, &req.env.container_id)?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_names_are_per_attachment_and_fit_ifnamsiz() {
        let a = super::veth_name("c1", "eth0", 0);
        assert_eq!(a, super::veth_name("c1", "eth0", 0));
        assert_ne!(a, super::veth_name("c1", "eth0", 1));
        assert_eq!(a.len(), 12);
    }
}
