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
