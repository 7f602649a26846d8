//! `bench ptp`, `bench host-device`: a plugin that gives the pod a link of
//! its own, not one hung off a master, + host-local, ours vs the reference
//! (the run itself is [`crate::scenario`]'s).
//!
//! ptp makes a veth pair per pod and DEL deletes it; host-device moves the
//! profile's host device (a veth end, `hdev0`) into each fresh pod and DEL
//! moves it back under its old name. Either way the host namespace must end
//! the run with exactly the links it was prepared with.

use crate::scenario::{Net, Scenario};
use serde_json::{Value, json};
use testkit::profile;

/// One plugin whose pod link is its own: its profile and what the header says.
pub struct PodLink {
    net: Net,
    setup: &'static str,
    /// What [`Scenario::no_quick_bound`] says.
    no_quick_bound: Option<&'static str>,
}

pub const PTP: PodLink = PodLink {
    net: Net { profile: &profile::PTP, tag: "rcpbench", subnet: "10.92.0.0/16" },
    setup: "ptp (a veth pair per pod)",
    no_quick_bound: None,
};

pub const HOST_DEVICE: PodLink = PodLink {
    net: Net { profile: &profile::HOST_DEVICE, tag: "rchbench", subnet: "10.93.0.0/16" },
    setup: "host-device hdev0 (a veth end, moved into each pod and back)",
    // Measured: ADD wall 0.79x (10 reps) and 0.99x (50 reps) of the reference's.
    no_quick_bound: Some("ADD's wall time is the kernel moving the device between namespaces, the same for both"),
};

impl Scenario for PodLink {
    fn net(&self) -> &Net {
        &self.net
    }

    fn setup(&self) -> String {
        self.setup.to_string()
    }

    fn extra_keys(&self) -> Value {
        json!({})
    }

    fn no_quick_bound(&self) -> Option<&'static str> {
        self.no_quick_bound
    }
}
