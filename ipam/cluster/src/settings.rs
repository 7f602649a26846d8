//! The node's settings file on its own, for `railcni-ipam`: which node this
//! is, how to reach etcd, and how long the heartbeat's lease lasts. The same
//! file the plugin reads (`configuration_path`), under the same rules: keys
//! matched ignoring case, credential files private to their owner.

use crate::config::{EtcdConf, EtcdSettings, etcd_settings, node_name, private_file};
use crate::error::Error;
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// A node is taken for dead this long after its heartbeat's last renewal.
pub const DEFAULT_NODE_GRACE_SECONDS: u64 = 600;
const DEFAULT_TIMEOUT_SECS: f64 = 5.0;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SettingsConf {
    node_name: String,
    etcd_endpoints: Vec<String>,
    etcd_ca_cert_file: String,
    etcd_cert_file: String,
    etcd_key_file: String,
    etcd_username: String,
    etcd_password_file: String,
    timeout: Option<f64>,
    node_grace_seconds: Option<u64>,
}

#[derive(Debug)]
pub struct NodeSettings {
    pub node: String,
    pub etcd: EtcdSettings,
    /// Per etcd call of the admin commands.
    pub timeout: Duration,
    /// The heartbeat lease's TTL.
    pub node_grace: Duration,
}

pub fn load(path: &Path) -> Result<NodeSettings, Error> {
    let field = "configuration_path";
    let text = std::fs::read(path).map_err(|e| Error::config(field, format!("{}: {e}", path.display())))?;
    private_file(field, path)?;
    let value: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| Error::config(field, format!("{}: not a JSON object: {e}", path.display())))?;
    let c: SettingsConf = cni::config::decode_conf(value, "settings")?;
    let timeout = c.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS);
    if !(timeout > 0.0 && timeout <= 300.0) {
        return Err(Error::config("settings.timeout", "must be a number of seconds in (0, 300]"));
    }
    let grace = c.node_grace_seconds.unwrap_or(DEFAULT_NODE_GRACE_SECONDS);
    if grace == 0 || grace > i64::MAX as u64 {
        return Err(Error::config("settings.node_grace_seconds", "must be a positive number of seconds"));
    }
    Ok(NodeSettings {
        node: node_name(&c.node_name)?,
        etcd: etcd_settings(EtcdConf {
            endpoints: c.etcd_endpoints,
            ca_cert_file: c.etcd_ca_cert_file,
            cert_file: c.etcd_cert_file,
            key_file: c.etcd_key_file,
            username: c.etcd_username,
            password_file: c.etcd_password_file,
        })?,
        timeout: Duration::from_secs_f64(timeout),
        node_grace: Duration::from_secs(grace),
    })
}
