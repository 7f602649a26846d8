//! `bench portmap`: the chained portmap plugin, ours (nftables over
//! netlink) vs the reference (the `iptables` command), the run itself
//! [`crate::scenario`]'s. Only portmap's own ADD and DEL are timed.
//!
//! The prelude stands in for the chain's interface plugin, as in `bench
//! tuning`: a veth pair whose `eth0` end is in the fresh pod, and a
//! `prevResult` naming it with an address, as a runtime hands portmap
//! after bridge. portmap forwards the profile's host port to that address
//! in the host namespace; DEL removes the forwarding.

use crate::scenario::{Net, Scenario};
use serde_json::{Value, json};
use testkit::lab::macvlan::{add_veth_master, sorted_names};
use testkit::netns::Namespace;
use testkit::profile;

/// The pod's end of the prelude's veth pair, and its peer (also in the pod).
const POD_LINK: (&str, &str) = ("eth0", "prelude0");

pub struct Portmap;

impl Scenario for Portmap {
    /// host-local runs only for its own peak RSS: portmap takes no addresses.
    fn net(&self) -> &Net {
        static NET: Net = Net { profile: &profile::PORTMAP, tag: "rcpbench", subnet: "10.95.0.0/16" };
        &NET
    }

    fn setup(&self) -> String {
        format!("portmap (one TCP host port) chained after a prelude's veth {} in the pod", POD_LINK.0)
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
            "ips": [{ "interface": 0, "address": "10.95.0.5/16" }],
        });
        Ok(conf)
    }

    /// Each pod's interface is its prelude's, so libcni has nothing to chain after.
    fn no_libcni(&self) -> Option<&'static str> {
        Some("portmap needs the prelude's interface in each pod")
    }

    /// A burst's pods get no prelude.
    fn no_bursts(&self) -> Option<&'static str> {
        Some("portmap needs the prelude's interface in each pod")
    }

    /// The prelude's link stays after DEL; it goes with the pod.
    fn after_del(&self, _pod: &Namespace) -> Result<(), String> {
        Ok(())
    }
}
