//! ptp's configuration: the reference keys, validated once.

use cni::{Error, Request};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(rename = "ipMasq")]
    pub ip_masq: bool,
    #[serde(rename = "ipMasqBackend")]
    ip_masq_backend: String,
    mtu: i64,
}

#[derive(Debug)]
pub struct Settings {
    pub ip_masq: bool,
    pub mtu: Option<u32>,
}

pub fn load(req: &Request) -> Result<Settings, Error> {
    let c: Config = req.decode()?;
    // A routed veth needs addresses: the reference fails later, in IPAM, with code 999.
    cni::delegate::ipam_type(req)?;
    cni::config::check_masq_backend(&c.ip_masq_backend)?;
    Ok(Settings { ip_masq: c.ip_masq, mtu: cni::config::link_mtu(c.mtu)? })
}
