//! `bench tuning` and `bench portmap`: a chained plugin, ours vs the
//! reference (the run itself is [`crate::scenario`]'s). Only the plugin's
//! own ADD and DEL are timed.
//!
//! The prelude stands in for the chain's interface plugin: a veth pair whose
//! `eth0` end is in the fresh pod, and a `prevResult` naming it, as a runtime
//! would hand the plugin after an interface plugin. The interface plugin's
//! own cost is `bench macvlan`'s; here it would only add the same noise to
//! both sides. The prelude's link stays in the pod and goes with it.
//! - tuning sets the profile's MTU and `arp_ignore` on ADD and restores both on DEL;
//! - portmap (ours: nftables over netlink; the reference: the `iptables`
//!   command) forwards the profile's TCP host port to the prelude's address
//!   in the host namespace; DEL removes the forwarding.

use crate::scenario::{Net, Scenario};
use serde_json::{Value, json};
use testkit::lab::macvlan::{add_veth_master, sorted_names};
use testkit::netns::Namespace;
use testkit::profile;

/// The pod's end of the prelude's veth pair, and its peer (also in the pod).
const POD_LINK: (&str, &str) = ("eth0", "prelude0");

/// A chained plugin timed after the prelude.
pub struct Chained {
    net: Net,
    setup: &'static str,
    /// The address `prevResult` gives the prelude's link, if the plugin needs one.
    pod_address: Option<&'static str>,
    /// Why `--quick` applies no ratio bound, if it does not.
    no_quick_bound: Option<&'static str>,
    /// What ADD must have done, beyond succeeding.
    after_add: fn(&Namespace) -> Result<(), String>,
}

pub static TUNING: Chained = Chained {
    net: Net { profile: &profile::TUNING, tag: "rctbench", subnet: "10.94.0.0/16" },
    setup: "tuning (mtu, arp_ignore) chained after a prelude's veth eth0 in the pod",
    pod_address: None,
    // Measured: ADD wall 1.23x (10 reps) and 0.64x (50 reps) of the reference's.
    no_quick_bound: Some("tuning's ADD is a few ms for both, so 10 reps give no stable ratio"),
    after_add: tuned,
};

pub static PORTMAP: Chained = Chained {
    net: Net { profile: &profile::PORTMAP, tag: "rcpbench", subnet: "10.95.0.0/16" },
    setup: "portmap (one TCP host port) chained after a prelude's veth eth0 in the pod",
    pod_address: Some("10.95.0.5/16"),
    no_quick_bound: None,
    after_add: prelude_link_kept,
};

/// The prelude's link is still in the pod after ADD.
fn prelude_link_kept(pod: &Namespace) -> Result<(), String> {
    if pod.link(POD_LINK.0).is_none() {
        return Err(format!("{} is gone from the pod after ADD\n{}", POD_LINK.0, pod.dump()));
    }
    Ok(())
}

/// tuning's ADD set the profile's MTU on the prelude's link.
fn tuned(pod: &Namespace) -> Result<(), String> {
    prelude_link_kept(pod)?;
    let mtu = pod.ip_json(&["link", "show", POD_LINK.0])?[0]["mtu"].clone();
    if mtu != json!(1400) {
        return Err(format!("ADD succeeded but {}'s MTU is {mtu}, not the config's 1400", POD_LINK.0));
    }
    Ok(())
}

impl Scenario for Chained {
    /// host-local runs only for its own peak RSS: neither plugin takes addresses.
    fn net(&self) -> &Net {
        &self.net
    }

    fn setup(&self) -> String {
        self.setup.into()
    }

    fn extra_keys(&self) -> Value {
        json!({})
    }

    /// The host namespace needs nothing; returns its links.
    fn prepare_host(&self, host: &Namespace) -> Result<Vec<String>, String> {
        Ok(sorted_names(host))
    }

    /// The chain's interface, made untimed, and the prevResult naming it.
    fn prelude(&self, pod: &Namespace, conf: &Value) -> Result<Value, String> {
        add_veth_master(pod, POD_LINK.0, POD_LINK.1)?;
        let mut conf = conf.clone();
        let ips: Vec<Value> = self.pod_address.iter().map(|a| json!({ "interface": 0, "address": a })).collect();
        conf["prevResult"] = json!({
            "cniVersion": conf["cniVersion"],
            "interfaces": [{ "name": POD_LINK.0, "sandbox": pod.path_str() }],
            "ips": ips,
        });
        Ok(conf)
    }

    /// Each pod's interface is its prelude's, so libcni (which would run
    /// the plugin on a pod without it) has nothing to chain after.
    fn no_libcni(&self) -> Option<&'static str> {
        Some("a chained plugin needs the prelude's interface in each pod")
    }

    /// A burst's pods get no prelude.
    fn no_bursts(&self) -> Option<&'static str> {
        Some("a chained plugin needs the prelude's interface in each pod")
    }

    fn no_quick_bound(&self) -> Option<&'static str> {
        self.no_quick_bound
    }

    fn after_add(&self, pod: &Namespace) -> Result<(), String> {
        (self.after_add)(pod)
    }

    /// The prelude's link stays after DEL; it goes with the pod.
    fn after_del(&self, _pod: &Namespace) -> Result<(), String> {
        Ok(())
    }
}
