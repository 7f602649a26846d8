//! `bench macvlan`, `bench ipvlan`, `bench vlan`: a plugin that hangs the pod's
//! interface off a host master, + host-local, ours vs the reference (the run
//! itself is [`crate::scenario`]'s). ipvlan and vlan need a kernel the CI host
//! lacks; the VM stage runs them (`conformance/vm/tests.sh`, `bench:NAME`).
//!
//! Each host namespace gets the profile's master (a veth pair whose one end
//! is `master0`). The pod's link lives in the pod, so after the run the host
//! namespace must have exactly the links it started with.

use crate::scenario::{Net, Scenario};
use serde_json::{Value, json};
use testkit::profile::{self, MASTER};

/// One plugin on [`MASTER`]: its profile, and the mode the bench pins so
/// that ours and the reference run the same one.
pub struct OnMaster {
    net: Net,
    mode: (&'static str, fn() -> Value),
}

pub const MACVLAN: OnMaster = OnMaster {
    net: Net { profile: &profile::MACVLAN, tag: "rcmbench", subnet: "10.88.0.0/16" },
    mode: ("mode", || json!("bridge")),
};

pub const IPVLAN: OnMaster = OnMaster {
    net: Net { profile: &profile::IPVLAN, tag: "rcibench", subnet: "10.89.0.0/16" },
    mode: ("mode", || json!("l2")),
};

pub const VLAN: OnMaster = OnMaster {
    net: Net { profile: &profile::VLAN, tag: "rcvbench", subnet: "10.90.0.0/16" },
    mode: ("vlanId", || json!(100)),
};

impl Scenario for OnMaster {
    fn net(&self) -> &Net {
        &self.net
    }

    fn setup(&self) -> String {
        let value = match (self.mode.1)() {
            Value::String(s) => s,
            other => other.to_string(),
        };
        format!("{} on {MASTER} (veth, {} {value})", self.net.profile.name, self.mode.0)
    }

    fn extra_keys(&self) -> Value {
        json!({ self.mode.0: (self.mode.1)() })
    }
}
