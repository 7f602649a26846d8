//! portmap's configuration: the reference's keys and the `portMappings`
//! capability, all validated before the kernel is touched.

use cni::{CniResult, Error, Request};
use ipnetwork::IpNetwork;
use netlink::nft::portmap::Mapping;
use serde::Deserialize;
use std::net::IpAddr;

/// The reference's default mark bit.
const DEFAULT_MARK_BIT: i64 = 13;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Entry {
    #[serde(rename = "hostPort")]
    host_port: i64,
    #[serde(rename = "containerPort")]
    container_port: i64,
    protocol: String,
    #[serde(rename = "hostIP")]
    host_ip: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RuntimeConfig {
    #[serde(rename = "portMappings")]
    port_mappings: Vec<Entry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Config {
    snat: Option<bool>,
    #[serde(rename = "markMasqBit")]
    mark_masq_bit: Option<i64>,
    #[serde(rename = "externalSetMarkChain")]
    external_set_mark_chain: Option<String>,
    #[serde(rename = "conditionsV4")]
    conditions_v4: Option<Vec<String>>,
    #[serde(rename = "conditionsV6")]
    conditions_v6: Option<Vec<String>>,
    #[serde(rename = "runtimeConfig")]
    runtime_config: RuntimeConfig,
}

#[derive(Debug)]
pub struct Settings {
    pub snat: bool,
    pub mark_bit: u8,
    pub mappings: Vec<Mapping>,
}

pub fn load(req: &Request) -> Result<Settings, Error> {
    let c: Config = req.decode()?;
    if c.external_set_mark_chain.is_some() && c.mark_masq_bit.is_some() {
        return Err(Error::config("externalSetMarkChain", "cannot be given with markMasqBit"));
    }
    if c.external_set_mark_chain.is_some() {
        // It names an iptables chain (kube-proxy's KUBE-MARK-MASQ), which nftables rules cannot jump to.
        return Err(Error::config(
            "externalSetMarkChain",
            "names an iptables chain; railcni's nftables rules mark with markMasqBit instead",
        ));
    }
    for (key, conditions) in [("conditionsV4", &c.conditions_v4), ("conditionsV6", &c.conditions_v6)] {
        if conditions.as_ref().is_some_and(|v| !v.is_empty()) {
            return Err(Error::config(key, "iptables match arguments are not supported by railcni's nftables rules"));
        }
    }
    let mark = c.mark_masq_bit.unwrap_or(DEFAULT_MARK_BIT);
    let mark_bit = u8::try_from(mark)
        .ok()
        .filter(|b| *b <= 31)
        .ok_or_else(|| Error::config("markMasqBit", format!("{mark} is not between 0 and 31")))?;
    let mappings =
        c.runtime_config.port_mappings.iter().enumerate().map(|(i, e)| mapping(i, e)).collect::<Result<Vec<_>, _>>()?;
    Ok(Settings { snat: c.snat.unwrap_or(true), mark_bit, mappings })
}

fn mapping(i: usize, e: &Entry) -> Result<Mapping, Error> {
    let field = |k: &str| format!("runtimeConfig.portMappings[{i}].{k}");
    let port = |k: &str, v: i64| {
        u16::try_from(v).ok().filter(|p| *p > 0).ok_or_else(|| Error::config(field(k), format!("{v} is not a port")))
    };
    let protocol = match e.protocol.to_ascii_lowercase().as_str() {
        "tcp" => 6,
        "udp" => 17,
        "sctp" => 132,
        other => return Err(Error::config(field("protocol"), format!("{other:?} is not tcp, udp or sctp"))),
    };
    let host_ip = match e.host_ip.as_str() {
        "" => None,
        s => Some(
            s.parse::<IpAddr>().map_err(|_| Error::config(field("hostIP"), format!("{s:?} is not an IP address")))?,
        ),
    };
    Ok(Mapping {
        protocol,
        host_port: port("hostPort", e.host_port)?,
        container_port: port("containerPort", e.container_port)?,
        host_ip,
    })
}

/// The container's addresses, as the reference picks them: the first of
/// each family whose interface (when named) is `ifname` in a sandbox.
pub fn container_ips(prev: &CniResult, ifname: &str) -> Vec<IpNetwork> {
    let mut out: Vec<IpNetwork> = Vec::new();
    for ip in &prev.ips {
        if out.iter().any(|o| o.is_ipv4() == ip.address.is_ipv4()) {
            continue;
        }
        if let Some(i) = ip.interface
            && let Some(iface) = prev.interfaces.get(i)
            && (iface.name != ifname || iface.sandbox.as_deref().unwrap_or("").is_empty())
        {
            continue;
        }
        out.push(ip.address);
    }
    out
}
