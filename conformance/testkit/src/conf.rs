//! Network configuration builders for the IPAM plugins.

use serde_json::{Value, json};
use std::path::Path;

/// A host-local config with the given range sets (`[[{subnet,..}], ...]`).
pub fn host_local(version: &str, name: &str, data_dir: &Path, ranges: Value) -> Value {
    json!({
        "cniVersion": version,
        "name": name,
        "ipam": {
            "type": "host-local",
            "dataDir": data_dir.display().to_string(),
            "ranges": ranges,
        }
    })
}

/// A host-local config with one IPv4 range set of one subnet.
pub fn host_local_v4(version: &str, name: &str, data_dir: &Path, subnet: &str) -> Value {
    host_local(version, name, data_dir, json!([[{ "subnet": subnet }]]))
}

/// A static config with the given `addresses` list.
pub fn static_ipam(version: &str, name: &str, addresses: Value) -> Value {
    json!({
        "cniVersion": version,
        "name": name,
        "ipam": { "type": "static", "addresses": addresses }
    })
}

/// `conf` with `prevResult` set, as a runtime sends it for CHECK/DEL (≥0.4.0).
pub fn with_prev_result(conf: &Value, prev: &Value) -> Value {
    let mut c = conf.clone();
    c["prevResult"] = prev.clone();
    c
}

/// Sets `conf[key] = value` on a clone; `key` is a dotted path (`ipam.dataDir`),
/// so keys that contain dots (`cni.dev/...`) must be set directly.
pub fn with(conf: &Value, key: &str, value: Value) -> Value {
    let mut c = conf.clone();
    let mut cur = &mut c;
    let parts: Vec<&str> = key.split('.').collect();
    for p in &parts[..parts.len() - 1] {
        if !cur.get(*p).is_some_and(Value::is_object) {
            cur[*p] = json!({});
        }
        cur = &mut cur[*p];
    }
    cur[parts[parts.len() - 1]] = value;
    c
}

/// Removes `key` (dotted) from a clone of `conf`.
pub fn without(conf: &Value, key: &str) -> Value {
    let mut c = conf.clone();
    let mut cur = &mut c;
    let parts: Vec<&str> = key.split('.').collect();
    for p in &parts[..parts.len() - 1] {
        match cur.get_mut(*p) {
            Some(next) => cur = next,
            None => return c,
        }
    }
    if let Some(o) = cur.as_object_mut() {
        o.remove(parts[parts.len() - 1]);
    }
    c
}
