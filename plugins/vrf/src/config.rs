//! vrf's configuration: `vrfname` (required) and `table` (0 or absent: the
//! first table no other VRF in the pod uses), validated once.

use cni::{Error, Request};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Config {
    vrfname: String,
    table: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub vrfname: String,
    /// None: pick a free one when creating the VRF; any is fine when it exists.
    pub table: Option<u32>,
}

pub fn load(req: &Request) -> Result<Settings, Error> {
    let c: Config = req.decode()?;
    if c.vrfname.is_empty() {
        return Err(Error::config("vrfname", "missing: name the VRF to enslave the interface to"));
    }
    cni::env::validate_ifname(&c.vrfname).map_err(|m| Error::config("vrfname", m))?;
    let table = match c.table {
        None | Some(0) => None,
        Some(t) if is_usable_table(t) => Some(t as u32),
        Some(t) => return Err(Error::config("table", format!("{t} is not a usable routing table id"))),
    };
    Ok(Settings { vrfname: c.vrfname, table })
}

/// A uint32 other than 0 and the kernel's own tables (default, main, local).
pub fn is_usable_table(t: i64) -> bool {
    (1..=u32::MAX as i64).contains(&t) && !(253..=255).contains(&t)
}
