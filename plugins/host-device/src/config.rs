//! host-device's configuration: which device (`device`, `hwaddr`,
//! `kernelpath`, `pciBusID`, or the device plugin's `deviceID`), railcni's
//! `dataDir`, and `policyRouting`, validated once.

use cni::{Error, Request};
use netlink::sriov_sysfs::is_pci_address;
use serde::Deserialize;
use std::path::PathBuf;

/// Where the attachment records live. Under /run: a reboot returns every
/// device to the host, and the records must go with them.
pub const DEFAULT_DATA_DIR: &str = "/run/cni/host-device";

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Config {
    device: String,
    hwaddr: String,
    kernelpath: String,
    #[serde(rename = "pciBusID")]
    pci_bus_id: String,
}

/// How the device is found.
#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    Name(String),
    Mac(Vec<u8>),
    KernelPath(PathBuf),
    Pci(String),
    Auxiliary(String),
}

#[derive(Debug)]
pub struct Settings {
    pub selector: Selector,
    /// The key that named the device, for messages.
    pub field: &'static str,
    pub data_dir: PathBuf,
}

pub fn load(req: &Request) -> Result<Settings, Error> {
    let c: Config = req.decode()?;
    req.policy()?; // Validated here; the shared steps apply it.
    let (selector, field) = selector(req, &c)?;
    Ok(Settings { selector, field, data_dir: cni::config::data_dir(req, DEFAULT_DATA_DIR)? })
}

/// The device plugin's `runtimeConfig.deviceID` (a PCI address or an
/// auxiliary device) wins: it is the device allocated to this pod. Then the
/// reference's order: `device`, `hwaddr`, `kernelpath`, `pciBusID`.
fn selector(req: &Request, c: &Config) -> Result<(Selector, &'static str), Error> {
    if let Some(id) = req.conf.runtime_config.device_id.as_deref().filter(|d| !d.is_empty()) {
        let field = "runtimeConfig.deviceID";
        return Ok((device_id(id, field)?, field));
    }
    if !c.device.is_empty() {
        cni::env::validate_ifname(&c.device).map_err(|m| Error::config("device", m))?;
        return Ok((Selector::Name(c.device.clone()), "device"));
    }
    if !c.hwaddr.is_empty() {
        let mac = netlink::parse_mac(&c.hwaddr)
            .ok_or_else(|| Error::config("hwaddr", format!("{:?} is not a MAC address", c.hwaddr)))?;
        return Ok((Selector::Mac(mac), "hwaddr"));
    }
    if !c.kernelpath.is_empty() {
        if !c.kernelpath.starts_with("/sys/") || c.kernelpath.split('/').any(|p| p == "..") {
            return Err(Error::config("kernelpath", format!("{:?} is not a path under /sys", c.kernelpath)));
        }
        return Ok((Selector::KernelPath(PathBuf::from(&c.kernelpath)), "kernelpath"));
    }
    if !c.pci_bus_id.is_empty() {
        return Ok((device_id(&c.pci_bus_id, "pciBusID")?, "pciBusID"));
    }
    Err(Error::config("device", "specify either \"device\", \"hwaddr\", \"kernelpath\" or \"pciBusID\""))
}

fn device_id(id: &str, field: &str) -> Result<Selector, Error> {
    if is_pci_address(id) {
        return Ok(Selector::Pci(id.to_string()));
    }
    // An auxiliary device is `<driver>.<kind>.<n>`; anything that could climb out of sysfs is refused.
    if id.contains('.') && !id.contains('/') && !id.starts_with('.') {
        return Ok(Selector::Auxiliary(id.to_string()));
    }
    Err(Error::config(field, format!("{id:?} is neither a PCI address nor an auxiliary device")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_ids_are_pci_or_auxiliary() {
        assert_eq!(device_id("0000:af:06.0", "x").unwrap(), Selector::Pci("0000:af:06.0".into()));
        assert_eq!(device_id("mlx5_core.sf.4", "x").unwrap(), Selector::Auxiliary("mlx5_core.sf.4".into()));
        for bad in ["eth0", "../../etc", ".hidden.x", "a/b.c"] {
            assert_eq!(device_id(bad, "pciBusID").unwrap_err().code(), 7, "{bad}");
        }
    }
}
