//! tap's configuration: the reference keys (`mac`, `mtu`, `multiQueue`,
//! `owner`, `group`, `selinuxContext`, `bridge`), validated once.

use cni::{Error, Request};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Config {
    mac: String,
    mtu: i64,
    #[serde(rename = "multiQueue")]
    multi_queue: bool,
    owner: Option<u32>,
    group: Option<u32>,
    #[serde(rename = "selinuxContext")]
    selinux_context: String,
    bridge: String,
}

#[derive(Debug)]
pub struct Settings {
    pub mac: Option<Vec<u8>>,
    pub mtu: Option<u32>,
    pub multi_queue: bool,
    pub owner: Option<u32>,
    pub group: Option<u32>,
    /// A bridge in the pod to enslave the tap to.
    pub bridge: Option<String>,
}

/// Where the kernel says SELinux is on.
const SELINUX_FS: &str = "/sys/fs/selinux/enforce";

pub fn load(req: &Request) -> Result<Settings, Error> {
    let c: Config = req.decode()?;
    req.policy()?;
    if !c.selinux_context.is_empty() {
        selinux(&c.selinux_context)?;
    }
    if !c.bridge.is_empty() {
        cni::env::validate_ifname(&c.bridge).map_err(|m| Error::config("bridge", m))?;
    }
    Ok(Settings {
        mac: attach::requested_or_configured_mac(req, &c.mac)?,
        mtu: cni::config::link_mtu(c.mtu)?,
        multi_queue: c.multi_queue,
        owner: c.owner,
        group: c.group,
        bridge: (!c.bridge.is_empty()).then_some(c.bridge),
    })
}

/// An SELinux context is `user:role:type[:level]`. The reference labels
/// the device by running `ip tuntap` under that exec label; railcni makes
/// the device itself, without a child process to label. Without SELinux
/// the label would mean nothing (the reference's label write is a no-op
/// there too): the value is checked and not applied. With SELinux on it is
/// refused, rather than silently making an unlabelled device.
fn selinux(context: &str) -> Result<(), Error> {
    let printable = context.bytes().all(|b| b.is_ascii_graphic());
    if !printable || context.split(':').count() < 3 || context.split(':').any(str::is_empty) {
        return Err(Error::config("selinuxContext", format!("{context:?} is not user:role:type[:level]")));
    }
    if std::path::Path::new(SELINUX_FS).exists() {
        return Err(Error::UnsupportedField {
            field: "selinuxContext".into(),
            msg: "labelling a tap device is not implemented on hosts with SELinux enabled".into(),
        });
    }
    tracing::info!("selinuxContext {context}: SELinux is off on this host, no label to set");
    Ok(())
}
