//! ADD: an ipvlan on the master, born in the pod under a temporary name and
//! renamed there, after checking that it would not change the master's mode;
//! then IPAM (or, chained without IPAM, the previous result's addresses).

use crate::config::Settings;
use crate::port::{self, Port};
use attach::{Error, Result};
use cni::{CniResult, Request};
use netlink::ipvlan::IpvlanSpec;
use netlink::{Link, Netlink, Sockets};

pub async fn add(req: &Request, s: &Settings, ns: &Sockets) -> Result<CniResult> {
    let prev = req.prev_result()?;
    let policy = req.policy()?;
    let chained = chained_result(req, prev.as_ref())?;
    attach::ensure_free(req, ns).await?;
    // With linkInContainer the master lives in the pod, and so do its other links.
    let creator = if s.link_in_container { &ns.pod } else { &ns.host };
    let master = find_master(creator, s, prev.as_ref()).await?;
    attach::fits_master(s.mtu, &master)?;

    let (link, record) = {
        let port = if s.link_in_container { None } else { Some(Port::lock(&s.state_dir, &master)?) };
        let mut current = creator.ipvlan_port(master.index, false).await?;
        if let (None, Some(port)) = (&current, &port) {
            current = port.current(ns, &master).await?;
        }
        port::refuse_conflict(current, s, &master)?;
        let record = port.as_ref().map(|p| p.record(req, ns)).transpose()?;
        let link = attach::create_in_pod(req, ns, async |tmp| create(creator, s, &master, tmp, ns).await).await?;
        (link, record)
    };

    let result = match chained {
        Some(result) => attach::apply(req, ns, &link, result, true, policy.as_ref()).await,
        None => attach::configure(req, ns, &link).await,
    };
    let result = attach::remove_on_error(ns, &link, result).await?;
    if let Some(record) = record {
        record.keep();
    }
    Ok(result)
}

async fn create(creator: &Netlink, s: &Settings, master: &Link, tmp: &str, ns: &Sockets) -> Result<()> {
    let spec = IpvlanSpec {
        name: tmp,
        parent: master.index,
        mode: s.mode,
        flag: s.flag,
        ns_fd: (!s.link_in_container).then(|| ns.pod_ns.fd()),
        mtu: s.mtu,
    };
    match creator.add_ipvlan(&spec).await {
        Err(e) if e.errno() == Some(nix::libc::EBUSY) => Err(Error::config(
            "master",
            format!(
                "{} is taken by another kind of device (macvlan links, a bridge or a bond): \
                 a master can carry ipvlan links only if nothing else claims its traffic",
                master.name
            ),
        )),
        other => Ok(other?),
    }
}

/// Chained without IPAM, the previous result's addresses and routes move
/// onto the ipvlan link (as the reference does). `None` means IPAM decides:
/// an IPAM plugin, or `"ipam": {}` for a link without addresses (L2, beyond
/// the reference, as in railcni's macvlan and vlan).
fn chained_result(req: &Request, prev: Option<&CniResult>) -> Result<Option<CniResult>> {
    if cni::delegate::has_ipam(req) {
        return Ok(None);
    }
    let Some(prev) = prev.filter(|p| !p.ips.is_empty()) else {
        if req.conf.ipam.is_some() {
            return Ok(None);
        }
        return Err(Error::config("ipam", "is required unless a prevResult supplies the addresses (use {} for L2)"));
    };
    let mut result = prev.clone();
    for ip in &mut result.ips {
        ip.interface = Some(0);
    }
    if !req.conf.dns.is_empty() {
        result.dns = req.conf.dns.clone();
    }
    Ok(Some(result))
}

/// `master`; unset, the interface of a chained prevResult (if it has exactly
/// one), else the interface of the default route.
async fn find_master(nl: &Netlink, s: &Settings, prev: Option<&CniResult>) -> Result<Link> {
    if !s.master.is_empty() {
        return attach::master(nl, &s.master).await;
    }
    if let Some(prev) = prev {
        return match prev.interfaces.as_slice() {
            [only] if !only.name.is_empty() => attach::master(nl, &only.name).await,
            _ => Err(Error::config("master", "not set, and prevResult lacks a single named interface to take it from")),
        };
    }
    nl.default_route_link()
        .await?
        .ok_or_else(|| Error::config("master", "not set, and there is no default route to take it from"))
}
