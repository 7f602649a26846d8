//! bandwidth's configuration: the four limits from the config or from the
//! `bandwidth` capability (`runtimeConfig.bandwidth`), and the subnet
//! lists, all validated before the kernel is touched.

use cni::{Error, Request};
use ipnetwork::IpNetwork;
use serde::Deserialize;

/// One set of limits: rates in bits per second, bursts in bits.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct Entry {
    #[serde(rename = "ingressRate")]
    ingress_rate: Option<u64>,
    #[serde(rename = "ingressBurst")]
    ingress_burst: Option<u64>,
    #[serde(rename = "egressRate")]
    egress_rate: Option<u64>,
    #[serde(rename = "egressBurst")]
    egress_burst: Option<u64>,
    #[serde(rename = "shapedSubnets")]
    shaped_subnets: Vec<String>,
    #[serde(rename = "unshapedSubnets")]
    unshaped_subnets: Vec<String>,
}

impl Entry {
    fn is_set(&self) -> bool {
        self.ingress_rate.is_some()
            || self.ingress_burst.is_some()
            || self.egress_rate.is_some()
            || self.egress_burst.is_some()
            || !self.shaped_subnets.is_empty()
            || !self.unshaped_subnets.is_empty()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RuntimeConfig {
    bandwidth: Option<Entry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Config {
    #[serde(rename = "runtimeConfig")]
    runtime_config: RuntimeConfig,
}

/// One direction's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Bits per second.
    pub rate: u64,
    /// Bits.
    pub burst: u64,
}

/// Which traffic the limits apply to.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Subnets {
    /// All of it (a tbf).
    #[default]
    All,
    /// Only traffic with these remote subnets (an htb tree, the rest unlimited).
    Shaped(Vec<IpNetwork>),
    /// All but traffic with these remote subnets (an htb tree).
    Unshaped(Vec<IpNetwork>),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// Into the pod: on the host end of the pod's veth.
    pub ingress: Option<Limit>,
    /// Out of the pod: on an ifb fed by the host end's ingress.
    pub egress: Option<Limit>,
    pub subnets: Subnets,
}

impl Settings {
    pub fn is_zero(&self) -> bool {
        self.ingress.is_none() && self.egress.is_none()
    }
}

/// The reference accepts bursts below 4 GB (burst/8 < 2^32 bytes).
const MAX_BURST_BYTES: u64 = u32::MAX as u64;

pub fn load(req: &Request) -> Result<Settings, Error> {
    let top: Entry = req.decode()?;
    let rc: Config = req.decode()?;
    // CONVENTIONS.md: the runtime's capability overrides the config (the
    // reference 1.1.1 does the opposite whenever a limit key is in the config).
    let (entry, at) = match rc.runtime_config.bandwidth {
        Some(e) if e.is_set() => (e, "runtimeConfig.bandwidth."),
        _ => (top, ""),
    };
    let subnets = subnets(&entry, at)?;
    let ingress = limit(entry.ingress_rate, entry.ingress_burst, at, "ingress")?;
    let egress = limit(entry.egress_rate, entry.egress_burst, at, "egress")?;
    Ok(Settings { ingress, egress, subnets })
}

fn subnets(e: &Entry, at: &str) -> Result<Subnets, Error> {
    if !e.shaped_subnets.is_empty() && !e.unshaped_subnets.is_empty() {
        return Err(Error::config(
            format!("{at}shapedSubnets"),
            "unshapedSubnets and shapedSubnets cannot be both specified, one of them should be discarded",
        ));
    }
    let parse = |key: &str, list: &[String]| -> Result<Vec<IpNetwork>, Error> {
        list.iter()
            .enumerate()
            .map(|(i, s)| {
                s.parse::<IpNetwork>()
                    .map_err(|err| Error::config(format!("{at}{key}[{i}]"), format!("bad subnet {s:?}: {err}")))
            })
            .collect()
    };
    let shaped = parse("shapedSubnets", &e.shaped_subnets)?;
    let unshaped = parse("unshapedSubnets", &e.unshaped_subnets)?;
    Ok(match (shaped.is_empty(), unshaped.is_empty()) {
        (false, _) => Subnets::Shaped(shaped),
        (_, false) => Subnets::Unshaped(unshaped),
        _ => Subnets::All,
    })
}

/// Rate and burst of one direction: both set or both zero (then no limit).
fn limit(rate: Option<u64>, burst: Option<u64>, at: &str, dir: &str) -> Result<Option<Limit>, Error> {
    let (rate, burst) = (rate.unwrap_or(0), burst.unwrap_or(0));
    match (rate, burst) {
        (0, 0) => Ok(None),
        (_, 0) => Err(Error::config(format!("{at}{dir}Burst"), "if rate is set, burst must also be set")),
        (0, _) => Err(Error::config(format!("{at}{dir}Rate"), "if burst is set, rate must also be set")),
        // The kernel's rates are in bytes: the reference divides by zero below 8.
        (r, _) if r < 8 => Err(Error::config(format!("{at}{dir}Rate"), format!("{r} bit/s is below 8 bit/s"))),
        (_, b) if b / 8 >= MAX_BURST_BYTES => {
            Err(Error::config(format!("{at}{dir}Burst"), "burst cannot be more than 4GB"))
        }
        (rate, burst) => Ok(Some(Limit { rate, burst })),
    }
}
