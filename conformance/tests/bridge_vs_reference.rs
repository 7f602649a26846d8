//! Differential: the same bridge config, run once with our binaries
//! (`CNI_PATH` = our build dir) and once with Debian's reference plugins
//! (`CNI_PATH` = /usr/lib/cni), each in its own namespaces and dataDir.
//! The result layout and the pod's kernel state must be the same.
//!
//! Plugins are exec'd directly, so the raw result is compared (a runtime
//! library would re-marshal it and hide differences such as `dns`).

use serde_json::{Value, json};
use testkit::Binary;
use testkit::lab::Lab;
use testkit::result::layout;
use testkit::vs_reference::{self, IFNAME, Run, differences, exec, follow_up, run_both, sysctl_facts};

/// What one implementation did.
struct Side {
    run: Run,
    // Kept alive until the comparison is printed (namespaces are in here).
    _lab: Lab,
    bridge_addrs: Vec<String>,
}

fn run_side(plugin: &Binary, extra: &Value, ranges: Option<&Value>) -> Side {
    let mut lab = Lab::new(&plugin.dir().display().to_string());
    let p = lab.add_pod();
    let ipam = match ranges {
        Some(r) => lab.host_local(r.clone()),
        None => json!({}),
    };
    let c = vs_reference::plugin_conf(lab.bridge_plugin(extra.clone(), ipam));
    let result = exec(&lab, plugin, p, "ADD", &c).assert_ok_json();
    let layout = layout(&result, &lab.bridge, &lab.pod(p).path_str());
    let mut pod = lab.pod(p).normalized();
    pod.extend(bridge_sysctl_facts(&lab, p));
    let mut bridge_addrs = lab.host.global_addrs(&lab.bridge);
    bridge_addrs.sort();
    let verdicts = follow_up(&lab, plugin, p, &c, &result, &["CHECK", "DEL"]);
    Side { run: Run { label: plugin.label(), layout, pod, verdicts }, _lab: lab, bridge_addrs }
}

/// Sysctls the reference sets (or that decide how the pod behaves), as facts;
/// the bridge's under a fixed name since the bridge names differ.
fn bridge_sysctl_facts(lab: &Lab, p: usize) -> Vec<String> {
    let pod_keys = [
        format!("net.ipv4.conf.{IFNAME}.arp_notify"),
        format!("net.ipv6.conf.{IFNAME}.accept_dad"),
        format!("net.ipv6.conf.{IFNAME}.disable_ipv6"),
        format!("net.ipv6.conf.{IFNAME}.keep_addr_on_down"),
        format!("net.ipv6.conf.{IFNAME}.accept_ra"),
    ];
    let mut out = sysctl_facts(lab.pod(p), "pod", &pod_keys);
    let host_keys = ["net.ipv4.ip_forward".to_string(), "net.ipv6.conf.all.forwarding".to_string()];
    out.extend(sysctl_facts(&lab.host, "host", &host_keys));
    let accept_ra = lab.host.sysctl(&format!("net.ipv6.conf.{}.accept_ra", lab.bridge)).unwrap_or_else(|e| e);
    out.push(format!("sysctl host net.ipv6.conf.<bridge>.accept_ra={accept_ra}"));
    out.sort();
    out
}

/// Differences that are on purpose. Upstream's `ipam.ConfigureIface` has
/// set `keep_addr_on_down=1` on interfaces that get IPv6 since after
/// Debian's 1.1.1 (cni-reference.md §2), so that an address survives a
/// link flap; ours does it too.
const ALLOWED: &[&str] = &["sysctl pod net.ipv6.conf.eth0.keep_addr_on_down="];

/// `check_may_differ`: the reference's CHECK may fail where ours passes.
fn compare(extra: Value, ranges: Option<Value>, check_may_differ: bool) {
    let Some((theirs, ours)) = run_both("bridge", |plugin| run_side(plugin, &extra, ranges.as_ref())) else {
        return;
    };
    let may_differ: &[&str] = if check_may_differ { &["CHECK"] } else { &[] };
    let what = "kernel state (pod links, addresses, routes, sysctls; host sysctls)";
    let mut diffs = differences(&theirs.run, &ours.run, ALLOWED, what, may_differ);
    if ours.bridge_addrs != theirs.bridge_addrs {
        diffs.push(format!("bridge addresses: ref {:?}, ours {:?}", theirs.bridge_addrs, ours.bridge_addrs));
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
