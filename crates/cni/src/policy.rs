//! The `policyRouting` block: per-rail source-based routing, the same object
//! in every railcni interface plugin. Decoded (Go-style keys) and validated
//! here once; `netlink::policy` applies it in the pod.
//!
//! One rail = one routing table selected by rules on the interface's source
//! addresses. The table and the rule priority are derived from the rail
//! index (config `rail`, or the trailing number of `CNI_IFNAME`: `net3` → 3),
//! never picked as "the first free table", so concurrent ADDs of a pod's
//! rails cannot collide and DEL/CHECK find the same values again.

use crate::{Error, Request};
use serde::Deserialize;
use std::net::IpAddr;

/// `tableBase` default: above the 100-range used by the reference sbr and Spiderpool.
pub const TABLE_BASE: u32 = 1000;
/// `priorityBase` default: below main's rule (32766), above the local rule (0).
pub const PRIORITY_BASE: u32 = 1000;
/// The priority of the kernel's `lookup main` rule; ours must come first.
const MAIN_RULE_PRIORITY: i64 = 32766;

/// The block as written (`policyRouting` in the plugin's config).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct Conf {
    rail: Option<i64>,
    table: Option<i64>,
    #[serde(rename = "tableBase")]
    table_base: Option<i64>,
    priority: Option<i64>,
    #[serde(rename = "priorityBase")]
    priority_base: Option<i64>,
    #[serde(rename = "oifRule")]
    oif_rule: bool,
    gateways: Vec<String>,
    #[serde(rename = "sysctlPreset")]
    sysctl_preset: Option<String>,
    #[serde(rename = "arpIgnore")]
    arp_ignore: Option<i64>,
    #[serde(rename = "arpAnnounce")]
    arp_announce: Option<i64>,
    #[serde(rename = "arpFilter")]
    arp_filter: Option<i64>,
    #[serde(rename = "rpFilter")]
    rp_filter: Option<i64>,
    #[serde(rename = "arpNotify")]
    arp_notify: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Outer {
    #[serde(rename = "policyRouting")]
    policy_routing: Option<Conf>,
}

/// A validated block, resolved for one interface.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub table: u32,
    pub priority: u32,
    /// Also `oif <ifname> lookup <table>`, for sockets bound to the device.
    pub oif_rule: bool,
    /// At most one per family; overrides the IPAM gateway of the default route.
    pub gateways: Vec<IpAddr>,
    pub sysctls: Sysctls,
}

/// IPv4 per-interface sysctls; `None` leaves the kernel's value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sysctls {
    pub arp_ignore: Option<u8>,
    pub arp_announce: Option<u8>,
    pub arp_filter: Option<u8>,
    /// Also written to `conf/all` when that is higher: the kernel uses max(all, interface).
    pub rp_filter: Option<u8>,
    pub arp_notify: Option<u8>,
}

impl Sysctls {
    /// The values multi-rail RDMA nodes use: reply to ARP only on the
    /// interface that owns the address, announce the best local source,
    /// loose reverse-path filtering, gratuitous ARP on up.
    pub const RDMA: Sysctls = Sysctls {
        arp_ignore: Some(1),
        arp_announce: Some(2),
        arp_filter: None,
        rp_filter: Some(2),
        arp_notify: Some(1),
    };

    /// `(key below conf/<if>/, value)` for every value that is set.
    pub fn pairs(&self) -> Vec<(&'static str, u8)> {
        [
            ("arp_ignore", self.arp_ignore),
            ("arp_announce", self.arp_announce),
            ("arp_filter", self.arp_filter),
            ("rp_filter", self.rp_filter),
            ("arp_notify", self.arp_notify),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }
}

impl Request {
    /// The `policyRouting` block resolved for `CNI_IFNAME`, if the config has one.
    pub fn policy(&self) -> Result<Option<Policy>, Error> {
        let outer: Outer = crate::config::decode_conf(self.raw.clone(), "")?;
        outer.policy_routing.map(|c| resolve(&c, &self.env.ifname)).transpose()
    }
}

const FIELD: &str = "policyRouting";

fn field(key: &str) -> String {
    format!("{FIELD}.{key}")
}

fn resolve(c: &Conf, ifname: &str) -> Result<Policy, Error> {
    let rail = match c.rail {
        Some(r) => Some(u32::try_from(r).map_err(|_| Error::config(field("rail"), format!("{r} is not a uint32")))?),
        None => rail_of(ifname),
    };
    let base = |v: Option<i64>, key: &str, default: u32| -> Result<u32, Error> {
        v.map_or(Ok(default), |b| {
            u32::try_from(b).map_err(|_| Error::config(field(key), format!("{b} is not a uint32")))
        })
    };
    let table = match (c.table, rail) {
        (Some(t), _) => t,
        (None, Some(r)) => base(c.table_base, "tableBase", TABLE_BASE)? as i64 + r as i64,
        (None, None) => {
            return Err(Error::config(
                field("rail"),
                format!("not set, and CNI_IFNAME {ifname:?} does not end in a rail number; set rail or table"),
            ));
        }
    };
    let table = match u32::try_from(table) {
        Ok(t) if ![0, 253, 254, 255].contains(&t) => t,
        _ => {
            let key = if c.table.is_some() { "table" } else { "tableBase" };
            return Err(Error::config(
                field(key),
                format!("table {table} is not usable (any uint32 except 0, 253, 254 and 255)"),
            ));
        }
    };
    let priority = match c.priority {
        Some(p) => p,
        None => base(c.priority_base, "priorityBase", PRIORITY_BASE)? as i64 + rail.unwrap_or(0) as i64,
    };
    if !(1..MAIN_RULE_PRIORITY).contains(&priority) {
        let key = if c.priority.is_some() { "priority" } else { "priorityBase" };
        return Err(Error::config(
            field(key),
            format!("rule priority {priority} must be 1-32765 (before main's rule)"),
        ));
    }
    let gateways = parse_gateways(&c.gateways, &field("gateways"))?;
    Ok(Policy { table, priority: priority as u32, oif_rule: c.oif_rule, gateways, sysctls: sysctls(c)? })
}

/// A `gateways` list (`key` names it in errors): IP addresses, at most one per family.
pub fn parse_gateways(list: &[String], key: &str) -> Result<Vec<IpAddr>, Error> {
    let mut gateways: Vec<IpAddr> = Vec::new();
    for (i, g) in list.iter().enumerate() {
        let key = format!("{key}[{i}]");
        let ip: IpAddr = g.parse().map_err(|_| Error::config(&key, format!("{g:?} is not an IP address")))?;
        if gateways.iter().any(|o| o.is_ipv4() == ip.is_ipv4()) {
            return Err(Error::config(key, "at most one gateway per address family"));
        }
        gateways.push(ip);
    }
    Ok(gateways)
}

fn sysctls(c: &Conf) -> Result<Sysctls, Error> {
    let preset = match c.sysctl_preset.as_deref().unwrap_or("rdma").to_ascii_lowercase().as_str() {
        "rdma" => Sysctls::RDMA,
        "none" => Sysctls::default(),
        other => return Err(Error::config(field("sysctlPreset"), format!("{other:?} must be rdma or none"))),
    };
    let pick = |v: Option<i64>, key: &str, valid: &[i64], preset: Option<u8>| -> Result<Option<u8>, Error> {
        match v {
            None => Ok(preset),
            Some(v) if valid.contains(&v) => Ok(Some(v as u8)),
            Some(v) => Err(Error::config(field(key), format!("{v} is not one of {valid:?}"))),
        }
    };
    Ok(Sysctls {
        arp_ignore: pick(c.arp_ignore, "arpIgnore", &[0, 1, 2, 3, 8], preset.arp_ignore)?,
        arp_announce: pick(c.arp_announce, "arpAnnounce", &[0, 1, 2], preset.arp_announce)?,
        arp_filter: pick(c.arp_filter, "arpFilter", &[0, 1], preset.arp_filter)?,
        rp_filter: pick(c.rp_filter, "rpFilter", &[0, 1, 2], preset.rp_filter)?,
        arp_notify: pick(c.arp_notify, "arpNotify", &[0, 1], preset.arp_notify)?,
    })
}

/// The rail number at the end of an interface name: `net3` → 3, `rdma12` → 12.
pub fn rail_of(ifname: &str) -> Option<u32> {
    let digits = ifname.len() - ifname.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    ifname[ifname.len() - digits..].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(block: serde_json::Value, ifname: &str) -> Result<Option<Policy>, Error> {
        let outer: Outer = crate::config::decode_conf(json!({ "policyRouting": block }), "")?;
        outer.policy_routing.map(|c| resolve(&c, ifname)).transpose()
    }

    #[test]
    fn rail_from_ifname_gives_table_and_priority() {
        let p = policy(json!({}), "net3").unwrap().unwrap();
        assert_eq!((p.table, p.priority), (1003, 1003));
        assert_eq!(p.sysctls, Sysctls::RDMA);
        let p = policy(json!({"RAIL": 7, "tablebase": 2000, "priorityBase": 500}), "eth0").unwrap().unwrap();
        assert_eq!((p.table, p.priority), (2007, 507));
        assert_eq!(rail_of("rdma12"), Some(12));
        assert_eq!(rail_of("eth"), None);
    }

    #[test]
    fn explicit_table_and_overrides() {
        let p = policy(json!({"table": 300, "priority": 99, "sysctlPreset": "none", "rpFilter": 0}), "x").unwrap();
        let p = p.unwrap();
        assert_eq!((p.table, p.priority), (300, 99));
        assert_eq!(p.sysctls.pairs(), [("rp_filter", 0)]);
    }

    #[test]
    fn bad_values_name_the_field() {
        let cases = [
            (json!({}), "policyRouting.rail"),
            (json!({"table": 254}), "policyRouting.table"),
            (json!({"table": 0}), "policyRouting.table"),
            (json!({"rail": 4294967295u32}), "policyRouting.tableBase"),
            (json!({"rail": 1, "priority": 32766}), "policyRouting.priority"),
            (json!({"rail": 1, "gateways": ["10.0.0.1", "10.0.0.2"]}), "policyRouting.gateways[1]"),
            (json!({"rail": 1, "gateways": ["x"]}), "policyRouting.gateways[0]"),
            (json!({"rail": 1, "arpIgnore": 5}), "policyRouting.arpIgnore"),
            (json!({"rail": 1, "sysctlPreset": "fast"}), "policyRouting.sysctlPreset"),
            (json!({"rail": "1"}), "policyRouting.rail"),
        ];
        for (block, key) in cases {
            let e = policy(block.clone(), "eth").unwrap_err();
            assert_eq!(e.code(), 7, "{block}");
            assert!(e.to_string().starts_with(key), "{block}: {e}");
        }
    }

    #[test]
    fn absent_block_is_none() {
        let outer: Outer = crate::config::decode_conf(json!({"type": "macvlan"}), "").unwrap();
        assert!(outer.policy_routing.is_none());
    }
}
