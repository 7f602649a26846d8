//! `bench tuning`: the chained tuning plugin, ours vs the reference (the run
//! itself is [`crate::scenario`]'s). Only tuning's own ADD and DEL are timed.
//!
//! The prelude stands in for the chain's interface plugin: a veth pair whose
//! `eth0` end is in the fresh pod, and a `prevResult` naming it, as a runtime
//! would hand tuning after an interface plugin. The interface plugin's own
//! cost is `bench macvlan`'s; here it would only add the same noise to both
//! sides. tuning sets the profile's MTU and `arp_ignore` on ADD and restores
//! both on DEL; the prelude's link stays in the pod and goes with it.

use crate::scenario::{Net, Scenario};
use serde_json::{Value, json};
use testkit::lab::macvlan::{add_veth_master, sorted_names};
use testkit::netns::Namespace;
use testkit::profile;

/// The pod's end of the prelude's veth pair, and its peer (also in the pod).
const POD_LINK: (&str, &str) = ("eth0", "prelude0");

pub struct Tuning;

impl Scenario for Tuning {
    /// host-local runs only for its own peak RSS: tuning takes no addresses.
    fn net(&self) -> &Net {
        static NET: Net = Net { profile: &profile::TUNING, tag: "rctbench", subnet: "10.94.0.0/16" };
        &NET
    }

    fn setup(&self) -> String {
        format!("tuning (mtu, arp_ignore) chained after a prelude's veth {} in the pod", POD_LINK.0)
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
        conf["prevResult"] = json!({
            "cniVersion": conf["cniVersion"],
            "interfaces": [{ "name": POD_LINK.0, "sandbox": pod.path_str() }],
            "ips": [],
        });
        Ok(conf)
    }

    /// Each pod's interface is its prelude's, so libcni (which would run
    /// tuning on a pod without it) has nothing to chain after.
    fn no_libcni(&self) -> Option<&'static str> {
        Some("tuning needs the prelude's interface in each pod")
    }

    /// A burst's pods get no prelude.
    fn no_bursts(&self) -> Option<&'static str> {
        Some("tuning needs the prelude's interface in each pod")
    }

    /// Measured: ADD wall 1.23x (10 reps) and 0.64x (50 reps) of the reference's.
    fn no_quick_bound(&self) -> Option<&'static str> {
        Some("tuning's ADD is a few ms for both, so 10 reps give no stable ratio")
    }

    fn after_add(&self, pod: &Namespace) -> Result<(), String> {
        if pod.link(POD_LINK.0).is_none() {
            return Err(format!("{} is gone from the pod after ADD\n{}", POD_LINK.0, pod.dump()));
        }
        let mtu = pod.ip_json(&["link", "show", POD_LINK.0])?[0]["mtu"].clone();
        if mtu != json!(1400) {
            return Err(format!("ADD succeeded but {}'s MTU is {mtu}, not the config's 1400", POD_LINK.0));
        }
        Ok(())
    }

    /// The prelude's link stays after DEL; it goes with the pod.
    fn after_del(&self, _pod: &Namespace) -> Result<(), String> {
        Ok(())
    }
}
