//! `bench bandwidth`: the chained bandwidth plugin, ours vs the reference
//! (the run itself is [`crate::scenario`]'s). Only bandwidth's own ADD and
//! DEL are timed: ADD puts a tbf on the host end of the pod's veth and makes
//! an ifb with a tbf of its own and the redirect to it; DEL removes the ifb.
//!
//! The prelude stands in for the chain's interface plugin (ptp, bridge): a
//! veth pair with `eth0` in the fresh pod and the other end in the side's
//! host namespace, and a `prevResult` naming both, as a runtime would hand
//! bandwidth. The host end goes with the pod namespace.

use crate::scenario::{Net, Scenario};
use serde_json::{Value, json};
use std::hash::{Hash, Hasher};
use testkit::lab::macvlan::sorted_names;
use testkit::netns::Namespace;
use testkit::profile;

pub struct Bandwidth;

/// The side's host namespace of `pod`: pods are named `<host>-<cid>`.
fn host_of(pod: &Namespace) -> Result<String, String> {
    let dir = std::fs::read_dir("/run/netns").map_err(|e| format!("/run/netns: {e}"))?;
    dir.filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| pod.name().starts_with(&format!("{n}-")))
        .max_by_key(String::len)
        .ok_or_else(|| format!("no host namespace for pod {}", pod.name()))
}

/// A host veth name unique to the pod.
fn host_veth(pod: &Namespace) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    pod.name().hash(&mut h);
    format!("bh{:010x}", h.finish() & 0xff_ffff_ffff)
}

impl Scenario for Bandwidth {
    /// host-local runs only for its own peak RSS: bandwidth takes no addresses.
    fn net(&self) -> &Net {
        static NET: Net = Net { profile: &profile::BANDWIDTH, tag: "rcwbench", subnet: "10.95.0.0/16" };
        &NET
    }

    fn setup(&self) -> String {
        "bandwidth (10 Mbit/s each way: tbf, ifb, redirect) chained after a prelude's veth".into()
    }

    fn extra_keys(&self) -> Value {
        json!({})
    }

    /// The host namespace needs nothing; returns its links.
    fn prepare_host(&self, host: &Namespace) -> Result<Vec<String>, String> {
        Ok(sorted_names(host))
    }

    /// The chain's veth, made untimed, and the prevResult naming it.
    fn prelude(&self, pod: &Namespace, conf: &Value) -> Result<Value, String> {
        let host = host_of(pod)?;
        let peer = host_veth(pod);
        pod.ip(&["link", "add", "eth0", "type", "veth", "peer", "name", &peer, "netns", &host])?;
        pod.ip(&["link", "set", "eth0", "up"])?;
        let mut conf = conf.clone();
        conf["prevResult"] = json!({
            "cniVersion": conf["cniVersion"],
            "interfaces": [{ "name": peer }, { "name": "eth0", "sandbox": pod.path_str() }],
            "ips": [],
        });
        Ok(conf)
    }

    fn no_libcni(&self) -> Option<&'static str> {
        Some("bandwidth needs the prelude's veth in each pod")
    }

    fn no_bursts(&self) -> Option<&'static str> {
        Some("bandwidth needs the prelude's veth in each pod")
    }

    /// Measured (release, 50 reps, two runs): ADD wall p50 0.69x and 0.59x,
    /// CPU 0.52x and 0.50x of the reference's; 0.76x in a 10-rep run. Both
    /// ADDs are mostly the kernel's tbf and ifb work, so the ratio moves
    /// with the machine's load around the 0.6x bound.
    fn no_quick_bound(&self) -> Option<&'static str> {
        Some("bandwidth's ADD is a few ms of kernel work for both, so the 0.6x bound does not hold")
    }

    /// The prelude's eth0 stays after DEL; it goes with the pod.
    fn after_del(&self, _pod: &Namespace) -> Result<(), String> {
        Ok(())
    }

    /// No ifb may be left (the prelude's host ends go with their pods).
    fn leftovers(&self, host: &Namespace, _baseline: &[String]) -> Result<(), String> {
        let ifbs: Vec<String> = sorted_names(host).into_iter().filter(|n| n.starts_with("bwp")).collect();
        if !ifbs.is_empty() {
            return Err(format!("ifb devices left: {ifbs:?}"));
        }
        Ok(())
    }
}
