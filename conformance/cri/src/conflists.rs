//! The conflists the stages run, cniVersion 1.0.0: the newest that
//! containerd 1.6's libcni and Debian's reference plugins (1.1.1) both know.

use serde_json::{Value, json};
use std::path::Path;

/// bridge (created by the first ADD, gateway on it) with host-local.
pub fn bridge(network: &str, bridge: &str, subnet: &str, data_dir: &Path) -> Value {
    json!({
        "cniVersion": "1.0.0",
        "name": network,
        "plugins": [{
            "type": "bridge",
            "bridge": bridge,
            "isGateway": true,
            "ipam": host_local(subnet, data_dir),
        }],
    })
}

/// [`bridge`], then tuning as a rail's NAD chains it: an MTU and a
/// per-interface sysctl on the pod's `eth0`, its backups in `tuning_dir`.
pub fn bridge_with_tuning(network: &str, bridge: &str, subnet: &str, data_dir: &Path, tuning_dir: &Path) -> Value {
    let mut conf = self::bridge(network, bridge, subnet, data_dir);
    conf["plugins"].as_array_mut().expect("plugins").push(json!({
        "type": "tuning",
        "mtu": 1400,
        "sysctl": { "net.ipv4.conf.IFNAME.arp_ignore": "1" },
        "dataDir": tuning_dir,
    }));
    conf
}

/// macvlan in bridge mode on `master`, with host-local.
pub fn macvlan(network: &str, master: &str, subnet: &str, data_dir: &Path) -> Value {
    json!({
        "cniVersion": "1.0.0",
        "name": network,
        "plugins": [{
            "type": "macvlan",
            "master": master,
            "mode": "bridge",
            "ipam": host_local(subnet, data_dir),
        }],
    })
}

fn host_local(subnet: &str, data_dir: &Path) -> Value {
    json!({ "type": "host-local", "ranges": [[{ "subnet": subnet }]], "dataDir": data_dir })
}
