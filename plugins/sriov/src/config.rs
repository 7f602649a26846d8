//! sriov's configuration: sriov-cni's keys plus `mtu` and `dataDir`,
//! validated once. Each rejection names its key.

use cni::{Error, Request};
use netlink::sriov_sysfs::is_pci_address;
use netlink::vf::VfAttr;
use serde::Deserialize;
use std::path::PathBuf;

/// Where attachment records and per-VF locks live (sriov-cni: `/var/lib/cni/sriov`).
pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/sriov";

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Config {
    #[serde(rename = "deviceID")]
    device_id: String,
    /// Multus injects the device as `pciBusID` too.
    #[serde(rename = "pciBusID")]
    pci_bus_id: String,
    vlan: Option<i64>,
    #[serde(rename = "vlanQoS")]
    vlan_qos: Option<i64>,
    #[serde(rename = "vlanProto")]
    vlan_proto: Option<String>,
    mac: String,
    spoofchk: Option<String>,
    trust: Option<String>,
    link_state: Option<String>,
    min_tx_rate: Option<i64>,
    max_tx_rate: Option<i64>,
    mtu: i64,
}

#[derive(Debug)]
pub struct Settings {
    /// The VF's PCI address.
    pub pci: String,
    /// The VF attributes to set on the PF, in sriov-cni's order. Keys left
    /// out of the config are not sent, so a plain config suits any NIC.
    pub attrs: Vec<VfAttr>,
    /// The MAC for the VF (admin MAC on the PF and the netdev's).
    pub mac: Option<Vec<u8>>,
    pub mtu: Option<u32>,
    pub data_dir: PathBuf,
}

/// What DEL, GC and STATUS need: where the records are.
pub fn data_dir(req: &Request) -> Result<PathBuf, Error> {
    cni::config::data_dir(req, DEFAULT_DATA_DIR)
}

pub fn load(req: &Request) -> Result<Settings, Error> {
    let c: Config = req.decode()?;
    req.policy()?; // Validated here; the shared steps apply it.
    let pci = device_id(req, &c)?;
    let mac = mac(req, &c.mac)?;
    let mut attrs = Vec::new();
    if let Some(a) = vlan(&c)? {
        attrs.push(a);
    }
    if let Some(m) = &mac {
        attrs.push(VfAttr::Mac(m.clone()));
    }
    if let Some(a) = rate(&c)? {
        attrs.push(a);
    }
    if let Some(on) = on_off("spoofchk", &c.spoofchk)? {
        attrs.push(VfAttr::SpoofChk(on));
    }
    if let Some(on) = on_off("trust", &c.trust)? {
        attrs.push(VfAttr::Trust(on));
    }
    if let Some(s) = &c.link_state {
        let s = s.to_ascii_lowercase();
        if !["auto", "enable", "disable"].contains(&s.as_str()) {
            return Err(Error::config("link_state", format!("{s:?} must be auto, enable or disable")));
        }
        attrs.push(VfAttr::LinkState(s));
    }
    let mtu = match c.mtu {
        0 => None,
        m if (68..=65535).contains(&m) => Some(m as u32),
        m => return Err(Error::config("mtu", format!("{m} is out of range (68-65535, or 0 to keep the VF's)"))),
    };
    Ok(Settings { pci, attrs, mac, mtu, data_dir: data_dir(req)? })
}

/// `deviceID`, else `pciBusID`, else `runtimeConfig.deviceID` (the SR-IOV
/// device plugin's allocation, injected by Multus).
fn device_id(req: &Request, c: &Config) -> Result<String, Error> {
    let rc = req.conf.runtime_config.device_id.clone().unwrap_or_default();
    let (raw, key) = [(&c.device_id, "deviceID"), (&c.pci_bus_id, "pciBusID"), (&rc, "runtimeConfig.deviceID")]
        .into_iter()
        .find(|(v, _)| !v.is_empty())
        .ok_or_else(|| Error::config("deviceID", "the VF's PCI address is required"))?;
    let pci = raw.to_ascii_lowercase();
    if !is_pci_address(&pci) {
        return Err(Error::config(key, format!("{raw:?} is not a PCI address like 0000:03:02.3")));
    }
    Ok(pci)
}

/// sriov-cni's precedence: `runtimeConfig.mac` over `CNI_ARGS MAC` over `mac`.
fn mac(req: &Request, conf_mac: &str) -> Result<Option<Vec<u8>>, Error> {
    let chosen = req.requested_mac().or_else(|| (!conf_mac.is_empty()).then(|| (conf_mac.to_string(), "mac")));
    match chosen {
        None => Ok(None),
        Some((raw, field)) => match netlink::parse_mac(&raw) {
            Some(m) if m[0] & 1 == 0 && m.iter().any(|b| *b != 0) => Ok(Some(m)),
            _ => Err(Error::config(field, format!("{raw:?} is not a unicast MAC address"))),
        },
    }
}

fn vlan(c: &Config) -> Result<Option<VfAttr>, Error> {
    if c.vlan.is_none() && c.vlan_qos.is_none() && c.vlan_proto.is_none() {
        return Ok(None);
    }
    let id = match c.vlan.unwrap_or(0) {
        v if (0..=4094).contains(&v) => v as u32,
        v => return Err(Error::config("vlan", format!("{v} is out of range (0-4094)"))),
    };
    let qos = match c.vlan_qos.unwrap_or(0) {
        q if (0..=7).contains(&q) => q as u32,
        q => return Err(Error::config("vlanQoS", format!("{q} is out of range (0-7)"))),
    };
    let ad = match c.vlan_proto.as_deref().unwrap_or("802.1q").to_ascii_lowercase().as_str() {
        "802.1q" => false,
        "802.1ad" => true,
        other => return Err(Error::config("vlanProto", format!("{other:?} must be 802.1q or 802.1ad"))),
    };
    if id == 0 && qos != 0 {
        return Err(Error::config("vlanQoS", format!("{qos} needs a non-zero vlan")));
    }
    if id == 0 && ad {
        return Err(Error::config("vlanProto", "802.1ad needs a non-zero vlan"));
    }
    Ok(Some(VfAttr::Vlan { id, qos, ad }))
}

/// Rates in Mbps; 0 means no limit, and a config of zeros sends nothing.
fn rate(c: &Config) -> Result<Option<VfAttr>, Error> {
    let get = |v: Option<i64>, key: &str| match v.unwrap_or(0) {
        r if (0..=u32::MAX as i64).contains(&r) => Ok(r as u32),
        r => Err(Error::config(key, format!("{r} is not a rate in Mbps"))),
    };
    let (min, max) = (get(c.min_tx_rate, "min_tx_rate")?, get(c.max_tx_rate, "max_tx_rate")?);
    if max != 0 && min > max {
        return Err(Error::config("min_tx_rate", format!("{min} is above max_tx_rate {max}")));
    }
    Ok((min != 0 || max != 0).then_some(VfAttr::Rate { min, max }))
}

fn on_off(key: &str, v: &Option<String>) -> Result<Option<bool>, Error> {
    match v.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => Ok(None),
        Some("on") => Ok(Some(true)),
        Some("off") => Ok(Some(false)),
        Some(other) => Err(Error::config(key, format!("{other:?} must be on or off"))),
    }
}
