//! `bench macvlan`: macvlan + host-local ADD and DEL, ours vs the reference
//! (the run itself is `bench_plugin`'s).
//!
//! Each host namespace gets a veth pair whose one end is the master
//! (`master0`). The macvlan is born in the pod, so after the run the host
//! namespace must have exactly the links it started with.

use crate::bench_plugin::Scenario;
use crate::macvlan_lab::{MASTER, MASTER_PEER, add_veth_master, sorted_names};
use crate::netns::NetNs;
use serde_json::{Value, json};

pub struct Macvlan;

impl Scenario for Macvlan {
    fn plugin(&self) -> &'static str {
        "macvlan"
    }

    fn ns_tag(&self) -> &'static str {
        "rcmbench"
    }

    fn subnet(&self) -> &'static str {
        "10.88.0.0/16"
    }

    fn setup(&self) -> String {
        format!("macvlan on {MASTER} (veth, mode bridge)")
    }

    fn plugin_keys(&self) -> Value {
        json!({ "master": MASTER, "mode": "bridge" })
    }

    /// The master and its peer; returns the host's links (master, peer, lo).
    fn prepare_host(&self, host: &NetNs) -> Result<Vec<String>, String> {
        add_veth_master(host, MASTER, MASTER_PEER)?;
        Ok(sorted_names(host))
    }

    fn after_add(&self, pod: &NetNs) -> Result<(), String> {
        if pod.link("eth0").is_none() {
            return Err(format!("ADD succeeded but there is no eth0 in the pod\n{}", pod.dump()));
        }
        Ok(())
    }

    fn after_del(&self, pod: &NetNs) -> Result<(), String> {
        if pod.link("eth0").is_some() {
            return Err("eth0 left in the pod after DEL".into());
        }
        Ok(())
    }

    fn leftovers(&self, host: &NetNs, baseline: &[String]) -> Result<(), String> {
        let links = sorted_names(host);
        if links != baseline {
            return Err(format!("host links changed: {links:?}, was {baseline:?}"));
        }
        Ok(())
    }
}
