//! vlan's configuration: the reference keys plus `vlanProto`, validated once.

use cni::{Error, Request};
use netlink::VlanProtocol;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Config {
    master: String,
    #[serde(rename = "vlanId")]
    vlan_id: i64,
    #[serde(rename = "vlanProto")]
    vlan_proto: String,
    mtu: i64,
    #[serde(rename = "linkInContainer")]
    link_in_container: bool,
}

#[derive(Debug)]
pub struct Settings {
    pub master: String,
    pub id: u16,
    pub protocol: VlanProtocol,
    pub mtu: Option<u32>,
    pub link_in_container: bool,
}

pub fn load(req: &Request) -> Result<Settings, Error> {
    let c: Config = req.decode()?;
    req.policy()?; // Validated here; the shared steps apply it.
    if c.master.is_empty() {
        return Err(Error::config("master", "is required"));
    }
    cni::env::validate_ifname(&c.master).map_err(|m| Error::config("master", m))?;
    let id = match c.vlan_id {
        v if (0..=4094).contains(&v) => v as u16,
        v => return Err(Error::config("vlanId", format!("invalid VLAN ID {v} (must be between 0 and 4094)"))),
    };
    let protocol = match c.vlan_proto.to_ascii_lowercase().as_str() {
        "" | "802.1q" => VlanProtocol::Dot1q,
        "802.1ad" => VlanProtocol::Dot1ad,
        other => return Err(Error::config("vlanProto", format!("{other:?} must be 802.1q or 802.1ad"))),
    };
    let mtu = cni::config::link_mtu(c.mtu)?;
    Ok(Settings { master: c.master, id, protocol, mtu, link_in_container: c.link_in_container })
}
