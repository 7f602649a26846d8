//! Every plugin's configuration, as a run parses it: the first line of the
//! input is CNI_ARGS, the rest is stdin. Each plugin's loader either accepts
//! the config or returns a CNI error; it must never panic.
#![no_main]

use cni::env::{Command, Env};
use cni::{CniResult, Error, Plugin, Request};
use libfuzzer_sys::fuzz_target;

// The interface plugins' config modules are compiled in as they are.
#[allow(dead_code)]
#[path = "../../plugins/bridge/src/config.rs"]
mod bridge;
#[allow(dead_code)]
#[path = "../../plugins/macvlan/src/config.rs"]
mod macvlan;
#[allow(dead_code)]
#[path = "../../plugins/vlan/src/config.rs"]
mod vlan;

/// The CNI_ARGS keys the interface plugins know.
struct Keys;

impl Plugin for Keys {
    fn about(&self) -> &'static str {
        "fuzz"
    }
    fn known_args(&self) -> &'static [&'static str] {
        &["MAC", "IP", "GATEWAY"]
    }
    fn add(&self, _: &Request) -> Result<CniResult, Error> {
        unreachable!()
    }
    fn del(&self, _: &Request) -> Result<(), Error> {
        unreachable!()
    }
    fn check(&self, _: &Request) -> Result<(), Error> {
        unreachable!()
    }
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(0);
    let args = String::from_utf8_lossy(&data[..split]).into_owned();
    let stdin = data.get(split + 1..).unwrap_or_default().to_vec();
    for command in [Command::Add, Command::Del, Command::Check] {
        let env = Env {
            command,
            container_id: "fuzz".into(),
            netns: "/run/netns/fuzz".into(),
            ifname: "eth0".into(),
            args: args.clone(),
            path: Vec::new(),
        };
        let mut version = String::new();
        let Ok(req) = cni::dispatch::request(&Keys, env, stdin.clone(), &mut version) else {
            continue;
        };
        let _ = bridge::load(&req);
        let _ = macvlan::load(&req);
        let _ = vlan::load(&req);
        let _ = ipam::host_local::Config::load(&req);
        // static keeps no state and touches nothing: its whole ADD is parsing.
        if command == Command::Add {
            if let Ok(r) = ipam::static_ipam::Static.add(&req) {
                let _ = r.to_json(&req.conf.cni_version);
            }
        }
        let _ = req.prev_result();
    }
});
