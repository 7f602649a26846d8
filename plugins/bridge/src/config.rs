//! The bridge plugin's configuration: every reference key with its default,
//! validated in one place (plugins/main/bridge/bridge.go loadNetConf).

use cni::{Error, Request};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct Config {
    pub bridge: String,
    #[serde(rename = "isGateway")]
    pub is_gateway: bool,
    #[serde(rename = "isDefaultGateway")]
    pub is_default_gateway: bool,
    #[serde(rename = "forceAddress")]
    pub force_address: bool,
    #[serde(rename = "ipMasq")]
    pub ip_masq: bool,
    #[serde(rename = "ipMasqBackend")]
    pub ip_masq_backend: String,
    pub mtu: i64,
    #[serde(rename = "hairpinMode")]
    pub hairpin_mode: bool,
    #[serde(rename = "promiscMode")]
    pub promisc_mode: bool,
    pub vlan: i64,
    #[serde(rename = "vlanTrunk")]
    pub vlan_trunk: Vec<Trunk>,
    #[serde(rename = "preserveDefaultVlan")]
    pub preserve_default_vlan: bool,
    pub macspoofchk: bool,
    pub enabledad: bool,
    #[serde(rename = "disableContainerInterface")]
    pub disable_container_interface: bool,
    #[serde(rename = "portIsolation")]
    pub port_isolation: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            bridge: "cni0".into(),
            is_gateway: false,
            is_default_gateway: false,
            force_address: false,
            ip_masq: false,
            ip_masq_backend: String::new(),
            mtu: 0,
            hairpin_mode: false,
            promisc_mode: false,
            vlan: 0,
            vlan_trunk: Vec::new(),
            preserve_default_vlan: false,
            macspoofchk: false,
            enabledad: false,
            disable_container_interface: false,
            port_isolation: false,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Trunk {
    pub id: Option<i64>,
    #[serde(rename = "minID")]
    pub min_id: Option<i64>,
    #[serde(rename = "maxID")]
    pub max_id: Option<i64>,
}

/// The validated settings the plugin acts on.
#[derive(Debug)]
pub struct Settings {
    pub conf: Config,
    pub mtu: Option<u32>,
    pub vlan: Option<u16>,
    /// Tagged VLAN ranges on the port, inclusive.
    pub trunk: Vec<(u16, u16)>,
    pub mac: Option<Vec<u8>>,
    /// `policyRouting`, resolved for `CNI_IFNAME`.
    pub policy: Option<cni::policy::Policy>,
}

impl Settings {
    pub fn vlan_filtering(&self) -> bool {
        self.vlan.is_some() || !self.trunk.is_empty()
    }
}

pub fn load(req: &Request) -> Result<Settings, Error> {
    let mut conf: Config = req.decode()?;
    if conf.bridge.is_empty() {
        conf.bridge = "cni0".into();
    }
    cni::env::validate_ifname(&conf.bridge).map_err(|m| Error::config("bridge", m))?;
    if conf.is_default_gateway {
        conf.is_gateway = true;
    }
    if conf.hairpin_mode && conf.promisc_mode {
        return Err(Error::config("hairpinMode", "cannot be set together with promiscMode"));
    }
    if conf.disable_container_interface && cni::delegate::has_ipam(req) {
        return Err(Error::config("disableContainerInterface", "cannot be used with IPAM (use \"ipam\": {})"));
    }
    cni::config::check_masq_backend(&conf.ip_masq_backend)?;
    let mtu = cni::config::link_mtu(conf.mtu)?;
    let vlan = match conf.vlan {
        0 => None,
        v if (1..=4094).contains(&v) => Some(v as u16),
        v => return Err(Error::config("vlan", format!("invalid VLAN ID {v} (must be between 0 and 4094)"))),
    };
    let trunk = trunk_ranges(&conf.vlan_trunk)?;
    let mac = match req.requested_mac() {
        Some((raw, field)) => Some(
            netlink::parse_mac(&raw).ok_or_else(|| Error::config(field, format!("{raw:?} is not a MAC address")))?,
        ),
        None => None,
    };
    Ok(Settings { conf, mtu, vlan, trunk, mac, policy: req.policy()? })
}

fn trunk_ranges(trunks: &[Trunk]) -> Result<Vec<(u16, u16)>, Error> {
    let valid = |field: String, v: i64| -> Result<u16, Error> {
        if (1..=4094).contains(&v) {
            Ok(v as u16)
        } else {
            Err(Error::config(field, format!("invalid VLAN ID {v} (must be between 1 and 4094)")))
        }
    };
    let mut out = Vec::new();
    for (i, t) in trunks.iter().enumerate() {
        let at = format!("vlanTrunk[{i}]");
        match (t.id, t.min_id, t.max_id) {
            (Some(id), None, None) => {
                let id = valid(format!("{at}.id"), id)?;
                out.push((id, id));
            }
            (None, Some(min), Some(max)) => {
                let (min, max) = (valid(format!("{at}.minID"), min)?, valid(format!("{at}.maxID"), max)?);
                if min > max {
                    return Err(Error::config(format!("{at}.minID"), format!("{min} is greater than maxID {max}")));
                }
                out.push((min, max));
            }
            (None, None, None) => return Err(Error::config(at, "needs id, or minID and maxID")),
            (Some(_), _, _) => return Err(Error::config(at, "id cannot be combined with minID/maxID")),
            _ => return Err(Error::config(at, "minID and maxID must be set together")),
        }
    }
    Ok(out)
}
