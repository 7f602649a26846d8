//! bandwidth's verbs. ADD puts a tbf on the host end of the pod's veth
//! (traffic into the pod) and, for traffic out of the pod, redirects what
//! the host end receives to an ifb device with a tbf of its own. DEL
//! removes the ifb (found by name, so no netns or prevResult is needed)
//! and the host end's qdiscs when it can still find them; CHECK compares
//! every qdisc with the config.

use crate::config::{Limit, Settings};
use attach::{Error, Result, check_failed};
use cni::result::Interface;
use cni::{CniResult, Request};
use netlink::tc::{Qdisc, Tbf, ticks_per_usec};
use netlink::{Link, LinkKind, Netlink, Sockets};
use sha2::{Digest, Sha512};

/// The reference's ifb name: "bwp" and the start of the hex SHA-512 of
/// the network name and container ID, 15 characters in all.
pub fn ifb_name(req: &Request) -> String {
    let digest = Sha512::digest(format!("{}{}", req.conf.name, req.env.container_id).as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("bwp{}", &hex[..12])
}

/// The host end of the pod's veth: the peer of `CNI_IFNAME` when it is a
/// veth whose peer is here, else the one host interface of prevResult
/// that is a veth.
async fn host_veth(req: &Request, ns: &Sockets, prev: &CniResult) -> Result<Link> {
    if let Some(pod) = ns.pod.link_by_name(&req.env.ifname).await?
        && pod.kind == LinkKind::Veth
        && let Some(peer) = pod.link
        && let Some(host) = ns.host.link_by_index(peer).await?.filter(|l| l.kind == LinkKind::Veth)
    {
        return Ok(host);
    }
    for iface in prev.interfaces.iter().filter(|i| i.sandbox.as_deref().unwrap_or("").is_empty()) {
        if let Some(l) = ns.host.link_by_name(&iface.name).await?.filter(|l| l.kind == LinkKind::Veth) {
            return Ok(l);
        }
    }
    Err(Error::config(
        "prevResult",
        format!("{} in {} has no veth peer on the host to shape", req.env.ifname, req.env.netns),
    ))
}

fn tbf(l: Limit) -> Result<Tbf> {
    Ok(Tbf::from_bits(l.rate, l.burst, ticks_per_usec()?))
}

pub async fn add(req: &Request, s: &Settings, ns: &Sockets, prev: CniResult) -> Result<CniResult> {
    let host = host_veth(req, ns, &prev).await?;
    let ifb = ifb_name(req);
    match shape(s, &ns.host, &host, &ifb).await {
        Ok(Some(iface)) => {
            let mut result = prev;
            result.interfaces.push(iface);
            Ok(result)
        }
        Ok(None) => Ok(prev),
        Err(e) => {
            // Roll back whatever was made: the caller's DEL may never come.
            if let Err(undo) = unshape(&ns.host, Some(&host), &ifb).await {
                tracing::warn!("rolling back a failed ADD: {undo}");
            }
            Err(e)
        }
    }
}

/// The qdiscs and the ifb; returns the ifb as a result interface.
async fn shape(s: &Settings, nl: &Netlink, host: &Link, ifb: &str) -> Result<Option<Interface>> {
    if let Some(l) = s.ingress {
        nl.add_root_tbf(host.index, &tbf(l)?).await?;
    }
    let Some(l) = s.egress else { return Ok(None) };
    nl.add_ifb(ifb, host.mtu, host.txqueuelen).await?;
    let dev = nl.require_link(ifb).await?;
    nl.add_ingress_qdisc(host.index).await?;
    nl.add_ingress_redirect(host.index, dev.index).await?;
    nl.add_root_tbf(dev.index, &tbf(l)?).await?;
    Ok(Some(Interface { name: ifb.to_string(), mac: Some(dev.mac), ..Interface::default() }))
}

/// Remove the ifb and, if `host` is given, the qdiscs ADD put on it.
async fn unshape(nl: &Netlink, host: Option<&Link>, ifb: &str) -> Result<()> {
    if let Some(dev) = nl.link_by_name(ifb).await? {
        nl.delete_link(dev.index).await?;
    }
    if let Some(h) = host {
        let qdiscs = nl.qdiscs(h.index).await?;
        if qdiscs.iter().any(|q| q.is_root() && q.kind == "tbf") {
            nl.delete_qdisc(h.index, false).await?;
        }
        if qdiscs.iter().any(Qdisc::is_ingress) {
            nl.delete_qdisc(h.index, true).await?;
        }
    }
    Ok(())
}

/// DEL: the ifb by name; the host end's qdiscs through the pod's veth
/// peer, or prevResult's host veth when the netns is gone. The host end
/// usually goes with the interface plugin's DEL right after; removing its
/// qdiscs here makes this DEL complete on its own.
pub async fn del(req: &Request) -> Result<()> {
    let ifb = ifb_name(req);
    let prev = req.prev_result().ok().flatten().unwrap_or_default();
    let host = match attach::pod_if_present(req)? {
        Some(ns) => {
            let found = host_veth(req, &ns, &prev).await.ok();
            unshape(&ns.host, found.as_ref(), &ifb).await?;
            return Ok(());
        }
        None => Netlink::connect()?,
    };
    let mut veth = None;
    for iface in prev.interfaces.iter().filter(|i| i.sandbox.as_deref().unwrap_or("").is_empty()) {
        if let Some(l) = host.link_by_name(&iface.name).await?.filter(|l| l.kind == LinkKind::Veth) {
            veth = Some(l);
            break;
        }
    }
    unshape(&host, veth.as_ref(), &ifb).await
}

pub async fn check(req: &Request, s: &Settings, ns: &Sockets, prev: &CniResult) -> Result<()> {
    // The veth it shapes, as prevResult has it (up, its addresses and routes): the shared CHECK.
    attach::check_pod_link(req, ns, prev, attach::Expect { kind: "veth", up: true }).await?;
    let host = host_veth(req, ns, prev).await?;
    let nl = &ns.host;
    if let Some(l) = s.ingress {
        expect_tbf(nl, &host, tbf(l)?).await?;
    }
    if let Some(l) = s.egress {
        let ifb = ifb_name(req);
        let dev = nl.link_by_name(&ifb).await?.ok_or_else(|| check_failed(format!("ifb {ifb} is missing")))?;
        expect_tbf(nl, &dev, tbf(l)?).await?;
        if !nl.ingress_redirects(host.index).await?.contains(&dev.index) {
            return Err(check_failed(format!("{} does not redirect what it receives to {ifb}", host.name)));
        }
    }
    Ok(())
}

async fn expect_tbf(nl: &Netlink, link: &Link, want: Tbf) -> Result<()> {
    let qdiscs = nl.qdiscs(link.index).await?;
    let root = qdiscs.iter().find(|q| q.is_root());
    match root.and_then(|q| q.tbf) {
        Some(got) if got == want => Ok(()),
        Some(got) => Err(check_failed(format!("the tbf of {} is {got:?}, the config asks for {want:?}", link.name))),
        None => Err(check_failed(format!("{} has no tbf root qdisc (it has {root:?})", link.name))),
    }
}
