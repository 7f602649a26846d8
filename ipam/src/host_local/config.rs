//! host-local's configuration, validated in one place
//! (plugins/ipam/host-local/backend/allocator/config.go).

use crate::range::{RangeConf, RangeSet, canonicalize_set, set_contains, sets_overlap};
use crate::resolv;
use cni::net::parse_ip_or_cidr;
use cni::result::{Dns, Route};
use cni::version::Version;
use cni::{Error, Request};
use serde::Deserialize;
use std::net::IpAddr;
use std::path::PathBuf;

pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/networks";

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Net {
    ipam: Option<IpamConf>,
    #[serde(rename = "runtimeConfig")]
    runtime_config: RuntimeConf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RuntimeConf {
    #[serde(rename = "ipRanges")]
    ip_ranges: Vec<Vec<RangeConf>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IpamConf {
    // The legacy single-range form sits directly in `ipam`.
    subnet: String,
    #[serde(rename = "rangeStart")]
    range_start: String,
    #[serde(rename = "rangeEnd")]
    range_end: String,
    gateway: String,
    ranges: Vec<Vec<RangeConf>>,
    routes: Vec<Route>,
    #[serde(rename = "dataDir")]
    data_dir: String,
    #[serde(rename = "resolvConf")]
    resolv_conf: String,
}

/// host-local's validated configuration.
#[derive(Debug)]
pub struct Config {
    pub network: String,
    pub ranges: Vec<RangeSet>,
    pub routes: Vec<Route>,
    pub data_dir: PathBuf,
    pub dns: Dns,
    /// Specific addresses asked for, each with the range set it falls in.
    pub requested: Vec<(IpAddr, usize)>,
}

impl Config {
    pub fn load(req: &Request) -> Result<Config, Error> {
        let net: Net = req.decode()?;
        let ipam = net.ipam.ok_or_else(|| Error::config("ipam", "missing"))?;
        let ranges = range_sets(&ipam, net.runtime_config.ip_ranges)?;
        let per_family = |v4: bool| ranges.iter().filter(|s| s[0].subnet.is_ipv4() == v4).count();
        if (per_family(true) > 1 || per_family(false) > 1) && req.version < Version::V0_3_0 {
            return Err(Error::config(
                "cniVersion",
                format!("{} does not support more than one address per family; use 0.3.0 or later", req.version),
            ));
        }
        let requested = assign_requested(requested_ips(req)?, &ranges)?;
        let dns = match ipam.resolv_conf.as_str() {
            "" => Dns::default(),
            path => {
                resolv::parse(path.as_ref()).map_err(|e| Error::config("ipam.resolvConf", format!("{path}: {e}")))?
            }
        };
        let data_dir = if ipam.data_dir.is_empty() { DEFAULT_DATA_DIR.into() } else { ipam.data_dir.into() };
        Ok(Config { network: req.conf.name.clone(), ranges, routes: ipam.routes, data_dir, dns, requested })
    }
}

/// `runtimeConfig.ipRanges`, then the legacy single range, then `ranges`, as the reference orders them.
fn range_sets(ipam: &IpamConf, runtime: Vec<Vec<RangeConf>>) -> Result<Vec<RangeSet>, Error> {
    let mut sets = Vec::new();
    for (i, set) in runtime.iter().enumerate() {
        sets.push(canonicalize_set(set, &format!("runtimeConfig.ipRanges[{i}]"))?);
    }
    if !ipam.subnet.is_empty() {
        let legacy = RangeConf {
            subnet: ipam.subnet.clone(),
            range_start: ipam.range_start.clone(),
            range_end: ipam.range_end.clone(),
            gateway: ipam.gateway.clone(),
        };
        sets.push(vec![legacy.canonicalize("ipam")?]);
    }
    for (i, set) in ipam.ranges.iter().enumerate() {
        sets.push(canonicalize_set(set, &format!("ipam.ranges[{i}]"))?);
    }
    if sets.is_empty() {
        return Err(Error::config("ipam.ranges", "no IP ranges specified"));
    }
    for (i, a) in sets.iter().enumerate() {
        if let Some(j) = sets[i + 1..].iter().position(|b| sets_overlap(a, b)) {
            return Err(Error::config("ipam.ranges", format!("range set {i} overlaps with range set {}", i + 1 + j)));
        }
    }
    Ok(sets)
}

/// Requested addresses from `CNI_ARGS IP`, `args.cni.ips` and `runtimeConfig.ips`
/// (the reference takes their union), each with the field it came from.
fn requested_ips(req: &Request) -> Result<Vec<(IpAddr, String)>, Error> {
    let mut ips = Vec::new();
    if let Some(raw) = req.args.get("IP") {
        let ip =
            parse_ip_or_cidr(raw).ok_or_else(|| Error::env("CNI_ARGS", format!("IP={raw:?} is not an IP address")))?;
        ips.push((ip, "CNI_ARGS IP".to_string()));
    }
    let lists = [("args.cni.ips", &req.conf.args.cni.ips), ("runtimeConfig.ips", &req.conf.runtime_config.ips)];
    for (field, list) in lists {
        for (i, raw) in list.iter().enumerate() {
            let at = format!("{field}[{i}]");
            let ip =
                parse_ip_or_cidr(raw).ok_or_else(|| Error::config(&at, format!("{raw:?} is not an IP address")))?;
            ips.push((ip, at));
        }
    }
    ips.sort_by_key(|(ip, _)| *ip);
    ips.dedup_by_key(|(ip, _)| *ip);
    Ok(ips)
}

/// Each requested address must fall in exactly one range set, one per set.
/// Checking this before touching the store means a bad request leaves no state.
fn assign_requested(ips: Vec<(IpAddr, String)>, ranges: &[RangeSet]) -> Result<Vec<(IpAddr, usize)>, Error> {
    let mut out: Vec<(IpAddr, usize)> = Vec::new();
    for (ip, field) in ips {
        let Some(set) = ranges.iter().position(|s| set_contains(s, ip)) else {
            return Err(Error::config(field, format!("requested IP {ip} is not in any configured range")));
        };
        if let Some((other, _)) = out.iter().find(|(_, s)| *s == set) {
            return Err(Error::config(field, format!("requested IPs {other} and {ip} are both in range set {set}")));
        }
        out.push((ip, set));
    }
    Ok(out)
}
