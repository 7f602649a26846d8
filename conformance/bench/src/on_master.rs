//! `bench macvlan`, `bench ipvlan`, `bench vlan`: a plugin that hangs the pod's
//! interface off a host master, + host-local, ours vs the reference (the run
//! itself is [`crate::scenario`]'s). ipvlan and vlan need a kernel the CI host
//! lacks; the VM stage runs them (`conformance/vm/tests.sh`, `bench:NAME`).
//!
//! Each host namespace gets a veth pair whose one end is the master
//! (`master0`). The pod's link lives in the pod, so after the run the host
//! namespace must have exactly the links it started with.

use crate::scenario::Scenario;
use serde_json::{Value, json};
use testkit::lab::macvlan::{MASTER, MASTER_PEER, add_veth_master, sorted_names};
use testkit::netns::Namespace;

/// One plugin on [`MASTER`]: what differs between them is their config keys.
pub struct OnMaster {
    plugin: &'static str,
    tag: &'static str,
    subnet: &'static str,
    mode: &'static str,
    keys: fn() -> Value,
    no_bursts: Option<&'static str>,
}

pub const MACVLAN: OnMaster = OnMaster {
    plugin: "macvlan",
    tag: "rcmbench",
    subnet: "10.88.0.0/16",
    mode: "mode bridge",
    keys: || json!({ "master": MASTER, "mode": "bridge" }),
    no_bursts: None,
};

pub const IPVLAN: OnMaster = OnMaster {
    plugin: "ipvlan",
    tag: "rcibench",
    subnet: "10.89.0.0/16",
    mode: "mode l2",
    keys: || json!({ "master": MASTER, "mode": "l2" }),
    no_bursts: None,
};

pub const VLAN: OnMaster = OnMaster {
    plugin: "vlan",
    tag: "rcvbench",
    subnet: "10.90.0.0/16",
    mode: "vlanId 100",
    keys: || json!({ "master": MASTER, "vlanId": 100 }),
    // The kernel allows one vlan link per VID on a master (EEXIST), and a
    // network's pods share both: a second pod of one vlan network on one
    // master fails for every implementation.
    no_bursts: Some("the kernel allows one link per VLAN id on a master, so a vlan network holds one pod per node"),
};

impl Scenario for OnMaster {
    fn plugin(&self) -> &'static str {
        self.plugin
    }

    fn ns_tag(&self) -> &'static str {
        self.tag
    }

    fn subnet(&self) -> &'static str {
        self.subnet
    }

    fn setup(&self) -> String {
        format!("{} on {MASTER} (veth, {})", self.plugin, self.mode)
    }

    fn plugin_keys(&self) -> Value {
        (self.keys)()
    }

    /// The master and its peer; returns the host's links (master, peer, lo).
    fn prepare_host(&self, host: &Namespace) -> Result<Vec<String>, String> {
        add_veth_master(host, MASTER, MASTER_PEER)?;
        Ok(sorted_names(host))
    }

    fn after_add(&self, pod: &Namespace) -> Result<(), String> {
        if pod.link("eth0").is_none() {
            return Err(format!("ADD succeeded but there is no eth0 in the pod\n{}", pod.dump()));
        }
        Ok(())
    }

    fn after_del(&self, pod: &Namespace) -> Result<(), String> {
        if pod.link("eth0").is_some() {
            return Err("eth0 left in the pod after DEL".into());
        }
        Ok(())
    }

    fn no_bursts(&self) -> Option<&'static str> {
        self.no_bursts
    }

    fn leftovers(&self, host: &Namespace, baseline: &[String]) -> Result<(), String> {
        let links = sorted_names(host);
        if links != baseline {
            return Err(format!("host links changed: {links:?}, was {baseline:?}"));
        }
        Ok(())
    }
}
