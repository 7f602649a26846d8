//! macvlan's configuration: the reference keys and defaults, validated once.

use cni::{Error, Request};
use netlink::MacvlanMode;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Config {
    master: String,
    mode: String,
    mtu: i64,
    mac: String,
    #[serde(rename = "linkInContainer")]
    link_in_container: bool,
    bcqueuelen: Option<i64>,
}

#[derive(Debug)]
pub struct Settings {
    /// Empty: the interface of the default route.
    pub master: String,
    pub mode: MacvlanMode,
    pub mtu: Option<u32>,
    pub mac: Option<Vec<u8>>,
    pub link_in_container: bool,
    pub bc_queue_len: Option<u32>,
}

pub fn load(req: &Request) -> Result<Settings, Error> {
    let c: Config = req.decode()?;
    req.policy()?; // Validated here; the shared steps apply it.
    let mode_name = if c.mode.is_empty() { "bridge" } else { c.mode.as_str() };
    let mode = MacvlanMode::parse(mode_name)
        .filter(|m| *m != MacvlanMode::Source)
        .ok_or_else(|| Error::config("mode", format!("{mode_name:?} must be bridge, private, vepa or passthru")))?;
    if !c.master.is_empty() {
        cni::env::validate_ifname(&c.master).map_err(|m| Error::config("master", m))?;
    }
    let mtu = cni::config::link_mtu(c.mtu)?;
    let bc_queue_len = match c.bcqueuelen {
        None => None,
        Some(q) => Some(u32::try_from(q).map_err(|_| Error::config("bcqueuelen", format!("{q} is not a uint32")))?),
    };
    Ok(Settings {
        master: c.master,
        mode,
        mtu,
        mac: attach::requested_or_configured_mac(req, &c.mac)?,
        link_in_container: c.link_in_container,
        bc_queue_len,
    })
}
