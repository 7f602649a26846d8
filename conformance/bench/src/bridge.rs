//! `bench bridge`: bridge + host-local ADD and DEL, ours vs the reference
//! (the run itself is [`crate::scenario`]'s).
//!
//! The first ADD in each host namespace creates the bridge there (the
//! untimed warm-up does it), so every timed ADD finds it and attaches a
//! veth; DEL must leave no host veth behind.

use crate::scenario::{Net, Scenario};
use serde_json::{Value, json};
use std::path::Path;
use testkit::netns::Namespace;
use testkit::profile::{self, Site};

pub struct Bridge;

impl Scenario for Bridge {
    fn net(&self) -> &Net {
        static NET: Net = Net { profile: &profile::BRIDGE, tag: "rcbench", subnet: "10.83.0.0/16" };
        &NET
    }

    fn setup(&self) -> String {
        let site = Site { prefix: self.ns_tag(), dir: Path::new(""), devices: &[], net: 0 };
        let keys = self.profile().keys(&site);
        format!("bridge {} (isGateway)", keys["bridge"].as_str().unwrap_or("?"))
    }

    fn extra_keys(&self) -> Value {
        json!({})
    }

    fn leftovers(&self, host: &Namespace, _baseline: &[String]) -> Result<(), String> {
        let veths = host.link_names("veth");
        if !veths.is_empty() {
            return Err(format!("host veths left: {veths:?}"));
        }
        Ok(())
    }
}
