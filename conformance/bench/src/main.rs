//! The `bench` binary: railcni's plugins against the reference ones, timed.
//!
//! `bench ipam-scaling`: host-local as its store grows ([`ipam_scaling`]).
//! `bench bridge`, `bench macvlan`, `bench ipvlan`, `bench vlan`: one
//! interface plugin with host-local, ADD/DEL, ours vs the reference; what
//! differs per plugin is a [`scenario::Scenario`] ([`bridge`], [`on_master`]),
//! the run is [`scenario`]'s (ipvlan and vlan in the VM stage).
//! `bench ptp`, `bench host-device`: the same for a pod link of the plugin's
//! own ([`pod_link`]). `bench tuning`: tuning's own ADD/DEL after a prelude
//! ([`chained`]), and `bench portmap` the same for portmap. `bench
//! bandwidth`: bandwidth's own ADD/DEL after a prelude's veth ([`bandwidth`]).
//! `bench rails`: the added cost of per-rail policy routing ([`rails`]).
//! `bench sriov`: the sriov plugin on the VM stage's VFs, ours only ([`sriov`]).

mod bandwidth;
mod bridge;
mod chained;
mod ipam_scaling;
mod load;
mod measure;
mod on_master;
mod opts;
mod pod_link;
mod rails;
mod scenario;
mod sriov;
mod stats;

use bandwidth::Bandwidth;
use bridge::Bridge;
use chained::{PORTMAP, TUNING};
use on_master::{IPVLAN, MACVLAN, VLAN};
use pod_link::{HOST_DEVICE, PTP};
use scenario::Scenario;
use std::process::ExitCode;

/// The `bench <plugin>` subcommands, in the order `--help` lists them.
const PLUGINS: [&dyn Scenario; 9] =
    [&Bridge, &MACVLAN, &IPVLAN, &VLAN, &PTP, &HOST_DEVICE, &TUNING, &Bandwidth, &PORTMAP];

/// This binary's usage followed by every `bench <plugin>`'s.
fn full_usage() -> String {
    let plugins =
        PLUGINS.iter().fold(ipam_scaling::USAGE.to_string(), |u, s| format!("{u}\n\n{}", scenario::usage(s.plugin())));
    format!("{plugins}\n\n{}\n\n{}", rails::USAGE, sriov::USAGE)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(&plugin) = args.first().and_then(|a| PLUGINS.iter().find(|s| s.plugin() == a)) {
        return scenario::main(plugin, &args[1..]);
    }
    match args.first().map(String::as_str) {
        Some("rails") => rails::main(&args[1..]),
        Some("sriov") => sriov::main(&args[1..]),
        Some("ipam-scaling") => ipam_scaling::main(&args[1..]),
        Some("-h" | "--help") => {
            println!("{}", full_usage());
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{}", full_usage());
            ExitCode::from(2)
        }
    }
}
