//! bandwidth's verbs. ADD puts a tbf on the host end of the pod's veth
//! (traffic into the pod) and, for traffic out of the pod, redirects what
//! the host end receives to an ifb device with a tbf of its own. DEL
//! removes the ifb (found by name, so no netns or prevResult is needed)
//! and the host end's qdiscs when it can still find them; CHECK compares
//! every qdisc with the config.

use crate::config::{Limit, Settings, Subnets};
use attach::{Error, Result, check_failed};
use cni::result::Interface;
use cni::{CniResult, Request};
use netlink::tc::{HtbClass, Qdisc, Tbf, ticks_per_usec};
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

/// The kernel's queue length for an Ethernet device.
const DEFAULT_TXQUEUELEN: u32 = 1000;

/// The htb classes of a per-subnet limit: 1:30 limited, 1:1 not (as the
/// reference since v1.5.0 numbers them).
const SHAPED: u16 = 0x30;
const UNSHAPED: u16 = 1;
/// The unlimited class's rate, 100 Gbit/s, and its bucket, at least 1 MB.
const UNCAPPED_BITS: u64 = 100_000_000_000;
const UNCAPPED_BURST_BITS: u64 = 8_000_000;

/// The htb classes for limit `l`: the limited one, then the unlimited one.
fn htb_classes(l: Limit) -> Result<[HtbClass; 2]> {
    let t = tbf(l)?;
    let u = tbf(Limit { rate: UNCAPPED_BITS, burst: l.burst.max(UNCAPPED_BURST_BITS) })?;
    Ok([
        HtbClass { minor: SHAPED, rate: t.rate, buffer: t.buffer },
        HtbClass { minor: UNSHAPED, rate: u.rate, buffer: u.buffer },
    ])
}

/// The class traffic of no listed subnet falls into, and the one the listed go to.
fn default_and_listed(subnets: &Subnets) -> (u16, u16) {
    match subnets {
        Subnets::Shaped(_) => (UNSHAPED, SHAPED),
        _ => (SHAPED, UNSHAPED),
    }
}

/// Limit what leaves link `index`: a tbf, or with subnets an htb tree whose
/// filters match the remote end (`source`: the packets' source address).
async fn limit_root(nl: &Netlink, index: u32, l: Limit, subnets: &Subnets, source: bool) -> Result<()> {
    let list = match subnets {
        Subnets::All => return Ok(nl.add_root_tbf(index, &tbf(l)?).await?),
        Subnets::Shaped(list) | Subnets::Unshaped(list) => list,
    };
    let (default, listed) = default_and_listed(subnets);
    nl.add_root_htb(index, default).await?;
    for class in htb_classes(l)? {
        nl.add_htb_class(index, &class).await?;
    }
    for net in list {
        nl.add_subnet_filter(index, *net, source, listed).await?;
    }
    Ok(())
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
    // Into the pod, the remote end is the source; out of it, the destination.
    if let Some(l) = s.ingress {
        limit_root(nl, host.index, l, &s.subnets, true).await?;
    }
    let Some(l) = s.egress else { return Ok(None) };
    // A queue length of 0 (the reference's ptp and bridge give their veths
    // one) would make the htb leaves' fifos drop every packet: the
    // kernel's Ethernet default then.
    let qlen = if host.txqueuelen == 0 { DEFAULT_TXQUEUELEN } else { host.txqueuelen };
    nl.add_ifb(ifb, host.mtu, qlen).await?;
    let dev = nl.require_link(ifb).await?;
    nl.add_ingress_qdisc(host.index).await?;
    nl.add_ingress_redirect(host.index, dev.index).await?;
    limit_root(nl, dev.index, l, &s.subnets, false).await?;
    Ok(Some(Interface { name: ifb.to_string(), mac: Some(dev.mac), ..Interface::default() }))
}

/// Remove the ifb and, if `host` is given, the qdiscs ADD put on it.
async fn unshape(nl: &Netlink, host: Option<&Link>, ifb: &str) -> Result<()> {
    if let Some(dev) = nl.link_by_name(ifb).await? {
        nl.delete_link(dev.index).await?;
    }
    if let Some(h) = host {
        let qdiscs = nl.qdiscs(h.index).await?;
        if qdiscs.iter().any(|q| q.is_root() && (q.kind == "tbf" || q.kind == "htb")) {
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
        expect_root(nl, &host, l, &s.subnets).await?;
    }
    if let Some(l) = s.egress {
        let ifb = ifb_name(req);
        let dev = nl.link_by_name(&ifb).await?.ok_or_else(|| check_failed(format!("ifb {ifb} is missing")))?;
        expect_root(nl, &dev, l, &s.subnets).await?;
        if !nl.ingress_redirects(host.index).await?.contains(&dev.index) {
            return Err(check_failed(format!("{} does not redirect what it receives to {ifb}", host.name)));
        }
    }
    Ok(())
}

/// The root qdisc ADD made for limit `l`: the tbf, or the htb tree's
/// default class and its limited class's rate and bucket.
async fn expect_root(nl: &Netlink, link: &Link, l: Limit, subnets: &Subnets) -> Result<()> {
    if *subnets == Subnets::All {
        return expect_tbf(nl, link, tbf(l)?).await;
    }
    let (default, _) = default_and_listed(subnets);
    let qdiscs = nl.qdiscs(link.index).await?;
    let root = qdiscs.iter().find(|q| q.is_root());
    if root.and_then(|q| q.htb_default) != Some(default as u32) {
        return Err(check_failed(format!("{} has no htb root qdisc with default 1:{default:x} ({root:?})", link.name)));
    }
    let classes = nl.htb_classes(link.index).await?;
    let want = htb_classes(l)?;
    if !classes.contains(&want[0]) {
        return Err(check_failed(format!("{} lacks htb class {:?} (has {classes:?})", link.name, want[0])));
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
