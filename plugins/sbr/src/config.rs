//! sbr's configuration: the reference keys (`table`, `gateways`,
//! `addSourceHints`) and railcni's `priority`, validated once.

use cni::{Error, Request};
use serde::Deserialize;
use std::net::IpAddr;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Config {
    table: Option<i64>,
    gateways: Vec<String>,
    #[serde(rename = "addSourceHints")]
    add_source_hints: bool,
    priority: Option<i64>,
}

#[derive(Debug)]
pub struct Settings {
    /// Rules only, to this table (the reference's `table` mode).
    pub table: Option<u32>,
    /// At most one per family, over the IPAM gateways.
    pub gateways: Vec<IpAddr>,
    pub add_source_hints: bool,
    /// Rule priority; the kernel picks one (as for the reference) when unset.
    pub priority: Option<u32>,
}

impl Settings {
    /// The configured gateway of a family, else `ipam`'s.
    pub fn gateway(&self, v4: bool, ipam: Option<IpAddr>) -> Option<IpAddr> {
        self.gateways.iter().copied().find(|g| g.is_ipv4() == v4).or(ipam)
    }
}

pub fn load(req: &Request) -> Result<Settings, Error> {
    let c: Config = req.decode()?;
    let table = match c.table {
        None => None,
        Some(t) => Some(u32::try_from(t).map_err(|_| Error::config("table", format!("{t} is not a uint32")))?),
    };
    let priority = match c.priority {
        None => None,
        Some(p) if (1..32766).contains(&p) => Some(p as u32),
        Some(p) => return Err(Error::config("priority", format!("{p} must be 1-32765 (before main's rule)"))),
    };
    let gateways = cni::policy::parse_gateways(&c.gateways, "gateways")?;
    Ok(Settings { table, gateways, add_source_hints: c.add_source_hints, priority })
}
