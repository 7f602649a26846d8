//! Differential: the same bridge config, run once with our binaries
//! (`CNI_PATH` = our build dir) and once with Debian's reference plugins
//! (`CNI_PATH` = /usr/lib/cni), each in its own namespaces and dataDir.
//! The result layout and the pod's kernel state must be the same.
//!
//! Plugins are exec'd directly, so the raw result is compared (a runtime
//! library would re-marshal it and hide differences such as `dns`).

use conformance::bridge_lab::Lab;
use conformance::bridge_result::layout;
use conformance::kernel::facts_diff;
use conformance::netns::have_root;
use conformance::plugin::{REFERENCE_DIR, our_bin_dir};
use conformance::{Invocation, Outcome, Plugin, conf};
use serde_json::{Value, json};
use std::path::Path;

/// The reference's highest version.
const V: &str = "1.0.0";
const IFNAME: &str = "eth0";

/// What one implementation did.
struct Side {
    label: &'static str,
    // Kept alive until the comparison is printed (namespaces are in here).
    _lab: Lab,
    layout: Value,
    pod: Vec<String>,
    bridge_addrs: Vec<String>,
    check: String,
    del: String,
}

/// "ok" or "error <code>".
fn verdict(o: &Outcome) -> String {
    assert!(!o.panicked(), "{}", o.describe());
    if o.success() {
        "ok".into()
    } else {
        format!("error {}", o.json().ok().and_then(|v| v["code"].as_u64()).unwrap_or(0))
    }
}

fn run_side(label: &'static str, dir: &Path, extra: &Value, ranges: Option<&Value>) -> Side {
    let plugin = Plugin::find(dir, "bridge", label).unwrap_or_else(|e| panic!("{e}"));
    let mut lab = Lab::new(&dir.display().to_string());
    let p = lab.add_pod();
    let ipam = match ranges {
        Some(r) => lab.host_local(r.clone()),
        None => json!({}),
    };
    let mut c = lab.bridge_plugin(extra.clone(), ipam);
    c["cniVersion"] = json!(V);
    c["name"] = json!("diff"); // same network name on both sides
    let pod_path = lab.pod(p).path_str();
    let inv = |verb: &str, stdin: &Value| {
        Invocation::attachment_verb(verb).attachment("diff-ctr", IFNAME).set("CNI_NETNS", &pod_path).stdin_json(stdin)
    };
    let add = lab.exec_plugin(&plugin, &inv("ADD", &c));
    let result = add.assert_ok_json();
    let layout = layout(&result, &lab.bridge, &pod_path);
    let mut pod = lab.pod(p).normalized();
    pod.extend(sysctl_facts(&lab, p));
    let mut bridge_addrs = lab.host.global_addrs(&lab.bridge);
    bridge_addrs.sort();
    let follow = conf::with_prev_result(&c, &result);
    let check = verdict(&lab.exec_plugin(&plugin, &inv("CHECK", &follow)));
    let del = verdict(&lab.exec_plugin(&plugin, &inv("DEL", &follow)));
    Side { label, _lab: lab, layout, pod, bridge_addrs, check, del }
}

/// Sysctls the reference sets (or that decide how the pod behaves), as facts;
/// the bridge's under a fixed name since the bridge names differ.
fn sysctl_facts(lab: &Lab, p: usize) -> Vec<String> {
    let pod_keys = [
        format!("net.ipv4.conf.{IFNAME}.arp_notify"),
        format!("net.ipv6.conf.{IFNAME}.accept_dad"),
        format!("net.ipv6.conf.{IFNAME}.disable_ipv6"),
        format!("net.ipv6.conf.{IFNAME}.keep_addr_on_down"),
        format!("net.ipv6.conf.{IFNAME}.accept_ra"),
    ];
    let mut out: Vec<String> =
        pod_keys.iter().map(|k| format!("sysctl pod {k}={}", lab.pod(p).sysctl(k).unwrap_or_else(|e| e))).collect();
    let host_keys = [
        ("net.ipv4.ip_forward".to_string(), "net.ipv4.ip_forward".to_string()),
        ("net.ipv6.conf.all.forwarding".to_string(), "net.ipv6.conf.all.forwarding".to_string()),
        (format!("net.ipv6.conf.{}.accept_ra", lab.bridge), "net.ipv6.conf.<bridge>.accept_ra".to_string()),
    ];
    for (k, shown) in host_keys {
        out.push(format!("sysctl host {shown}={}", lab.host.sysctl(&k).unwrap_or_else(|e| e)));
    }
    out.sort();
    out
}

/// Differences that are on purpose. Upstream's `ipam.ConfigureIface` has
/// set `keep_addr_on_down=1` on interfaces that get IPv6 since after
/// Debian's 1.1.1 (cni-reference.md §2), so that an address survives a
/// link flap; ours does it too.
const ALLOWED: &[&str] = &["sysctl pod net.ipv6.conf.eth0.keep_addr_on_down="];

fn without_allowed(facts: &[String]) -> Vec<String> {
    facts.iter().filter(|f| !ALLOWED.iter().any(|a| f.starts_with(a))).cloned().collect()
}

fn compare(extra: Value, ranges: Option<Value>, check_may_differ: bool) {
    if !have_root() {
        eprintln!("SKIPPED: needs root (network namespaces)");
        return;
    }
    Plugin::ours("bridge");
    Plugin::reference("bridge");
    let theirs = run_side("ref", Path::new(REFERENCE_DIR), &extra, ranges.as_ref());
    let ours = run_side("ours", &our_bin_dir("debug"), &extra, ranges.as_ref());

    let mut diffs = Vec::new();
    if ours.layout != theirs.layout {
        diffs.push(format!(
            "result layout differs:\n  {}: {}\n  {}: {}",
            theirs.label, theirs.layout, ours.label, ours.layout
        ));
    }
    let d = facts_diff(theirs.label, &without_allowed(&theirs.pod), ours.label, &without_allowed(&ours.pod));
    if !d.is_empty() {
        diffs.push(format!("kernel state differs (pod links, addresses, routes, sysctls; host sysctls):\n{d}"));
    }
    if ours.bridge_addrs != theirs.bridge_addrs {
        diffs.push(format!("bridge addresses: ref {:?}, ours {:?}", theirs.bridge_addrs, ours.bridge_addrs));
    }
    if !check_may_differ && ours.check != theirs.check {
        diffs.push(format!("CHECK: ref {}, ours {}", theirs.check, ours.check));
    }
    if ours.check != "ok" {
        diffs.push(format!("our CHECK right after ADD: {}", ours.check));
    }
    if ours.del != theirs.del || ours.del != "ok" {
        diffs.push(format!("DEL: ref {}, ours {}", theirs.del, ours.del));
    }
    assert!(diffs.is_empty(), "ours vs reference ({extra}, ranges {ranges:?}):\n{}", diffs.join("\n"));
}

#[test]
fn ipv4_gateway_same_as_reference() {
    compare(
        json!({ "isGateway": true, "isDefaultGateway": true }),
        Some(json!([[{ "subnet": "10.82.0.0/24" }]])),
        false,
    );
}

#[test]
fn dual_stack_same_as_reference() {
    let ranges = json!([[{ "subnet": "10.82.0.0/24" }], [{ "subnet": "fd82::/64" }]]);
    compare(json!({ "isGateway": true, "isDefaultGateway": true }), Some(ranges), false);
}

#[test]
fn l2_same_as_reference() {
    // The reference's CHECK fails for `"ipam": {}` (it delegates to an IPAM
    // with no type); ours passes. That is the one allowed difference.
    compare(json!({}), None, true);
}
