//! tuning's configuration: the reference keys, their `args.cni.*`,
//! `CNI_ARGS MAC` and `runtimeConfig.mac` overrides, and the sysctl rules
//! (only `net.*`, `IFNAME` substituted, no key twice, the node allowlist),
//! all validated before the pod is touched.

use crate::sysctls::{self, Sysctl};
use cni::{Error, Request};
use serde::Deserialize;
use std::path::PathBuf;

/// The reference's default `dataDir`.
pub const DEFAULT_DATA_DIR: &str = "/run/cni/tuning";

/// The keys `args.cni` may override, each only when present.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Overrides {
    sysctl: Option<serde_json::Map<String, serde_json::Value>>,
    promisc: Option<bool>,
    mtu: Option<i64>,
    allmulti: Option<bool>,
    #[serde(rename = "txQLen")]
    tx_qlen: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ArgsBlock {
    cni: Option<Overrides>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Config {
    sysctl: serde_json::Map<String, serde_json::Value>,
    mac: String,
    promisc: bool,
    mtu: i64,
    allmulti: Option<bool>,
    #[serde(rename = "txQLen")]
    tx_qlen: Option<i64>,
    args: ArgsBlock,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    pub data_dir: PathBuf,
    /// In config order, `IFNAME` substituted.
    pub sysctls: Vec<Sysctl>,
    pub mac: Option<Vec<u8>>,
    /// Only `true` acts: `false` leaves the mode alone, as in the reference.
    pub promisc: bool,
    pub mtu: Option<u32>,
    pub allmulti: Option<bool>,
    pub txqlen: Option<u32>,
}

pub fn load(req: &Request) -> Result<Settings, Error> {
    let c: Config = req.decode()?;
    let o = c.args.cni.unwrap_or_default();
    // The config's sysctls, or `args.cni.sysctl` instead (the whole map, as in the reference).
    let (raw_sysctls, field) = match &o.sysctl {
        Some(map) => (map.clone(), "args.cni.sysctl"),
        None => (c.sysctl.clone(), "sysctl"),
    };
    let sysctls = sysctls::parse(&raw_sysctls, field, &req.env.ifname)?;
    if o.sysctl.is_none() {
        // Go keeps the last of two equal JSON keys silently; the reference refuses them.
        sysctls::refuse_repeated_keys(&req.stdin)?;
    }
    sysctls::check_allowlist(&sysctls, field, sysctls::ALLOWLIST)?;
    let mtu_raw = o.mtu.unwrap_or(c.mtu);
    let mtu_field = if o.mtu.is_some() { "args.cni.mtu" } else { "mtu" };
    let mtu = cni::config::link_mtu(mtu_raw).map_err(|e| Error::config(mtu_field, e.to_string()))?;
    let (tx_raw, tx_field) = match o.tx_qlen {
        Some(q) => (Some(q), "args.cni.txQLen"),
        None => (c.tx_qlen, "txQLen"),
    };
    let txqlen = match tx_raw {
        None => None,
        Some(q) => Some(u32::try_from(q).map_err(|_| Error::config(tx_field, format!("{q} must be 0 or more")))?),
    };
    Ok(Settings {
        data_dir: cni::config::data_dir(req, DEFAULT_DATA_DIR)?,
        sysctls,
        mac: mac(req, &c.mac)?,
        promisc: o.promisc.unwrap_or(c.promisc),
        mtu,
        allmulti: o.allmulti.or(c.allmulti),
        txqlen,
    })
}

/// The reference tuning's precedence: `runtimeConfig.mac` over
/// `args.cni.mac` over `CNI_ARGS MAC` (the request's, shared with bridge)
/// over the config's `mac`.
fn mac(req: &Request, conf_mac: &str) -> Result<Option<Vec<u8>>, Error> {
    let chosen = req.requested_mac().or_else(|| (!conf_mac.is_empty()).then(|| (conf_mac.to_string(), "mac")));
    match chosen {
        None => Ok(None),
        Some((raw, field)) => netlink::parse_mac(&raw)
            .map(Some)
            .ok_or_else(|| Error::config(field, format!("{raw:?} is not a MAC address"))),
    }
}
