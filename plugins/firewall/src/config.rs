//! firewall's configuration: the reference's keys, validated before the
//! kernel is touched.

use cni::{CniResult, Error, Request};
use serde::Deserialize;
use std::net::IpAddr;

/// The reference's default admin chain.
const DEFAULT_ADMIN_CHAIN: &str = "CNI-ADMIN";

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Config {
    backend: String,
    #[serde(rename = "iptablesAdminChainName")]
    admin_chain: String,
    #[serde(rename = "firewalldZone")]
    _zone: String,
    #[serde(rename = "ingressPolicy")]
    ingress_policy: String,
}

#[derive(Debug)]
pub struct Settings {
    pub admin_chain: String,
    pub same_bridge: bool,
}

pub fn load(req: &Request) -> Result<Settings, Error> {
    let c: Config = req.decode()?;
    match c.backend.as_str() {
        // railcni has one backend: the iptables backend's rules, in nftables.
        "" | "iptables" | "nftables" => {}
        "firewalld" => {
            return Err(Error::config("backend", "firewalld is not supported by railcni (iptables or nftables)"));
        }
        other => return Err(Error::config("backend", format!("{other:?} is not iptables, nftables or firewalld"))),
    }
    let same_bridge = match c.ingress_policy.as_str() {
        "" | "open" => false,
        "same-bridge" => true,
        other => return Err(Error::config("ingressPolicy", format!("unknown ingress policy: {other:?}"))),
    };
    let admin_chain = if c.admin_chain.is_empty() { DEFAULT_ADMIN_CHAIN.to_string() } else { c.admin_chain };
    // nftables' chain name limit, less room for the rule comment naming it.
    if admin_chain.len() > 200 || admin_chain.chars().any(|ch| ch.is_control()) {
        return Err(Error::config("iptablesAdminChainName", format!("{admin_chain:?} is not a chain name")));
    }
    Ok(Settings { admin_chain, same_bridge })
}

/// The pod's addresses: those of `ifname` in a sandbox, or all when the result names no interface.
pub fn pod_ips(prev: &CniResult, ifname: &str) -> Vec<IpAddr> {
    prev.ips
        .iter()
        .filter(|ip| match ip.interface.and_then(|i| prev.interfaces.get(i)) {
            Some(iface) => iface.name == ifname && iface.sandbox.as_deref().is_some_and(|s| !s.is_empty()),
            None => true,
        })
        .map(|ip| ip.address.ip())
        .collect()
}

/// `same-bridge`'s bridge: the result's first interface, as in the reference.
pub fn bridge(prev: &CniResult) -> Result<String, Error> {
    match prev.interfaces.first() {
        Some(i) if i.sandbox.as_deref().unwrap_or("").is_empty() && !i.name.is_empty() => Ok(i.name.clone()),
        _ => Err(Error::config(
            "ingressPolicy",
            "same-bridge needs the bridge in prevResult: chain firewall after the bridge plugin",
        )),
    }
}
