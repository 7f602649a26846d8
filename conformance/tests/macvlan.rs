//! The macvlan plugin end to end: real kernel, real namespaces, driven by
//! the Go runtime driver (libcni, one pass with go-cni) the way a node runs
//! it. The plugin is exec'd directly only where a runtime cannot express the
//! case (DEL with an empty `CNI_NETNS`).
//!
//! Every test builds a [`MacvlanLab`]: a "host" namespace where the driver
//! and the plugins run, with a veth pair in it whose one end is the master;
//! pod namespaces; temp dirs. All removed on drop. Nothing is created in the
//! machine's root namespace. Needs root (SKIPPED otherwise), `ip` and `ping`
//! (iputils-ping).

use serde_json::{Value, json};
use testkit::Binary;
use testkit::binary::our_cni_path;
use testkit::driver::{DriverOut, Lib};
use testkit::lab::macvlan::{
    Attached, MASTER, MASTER_PEER, MacvlanLab, Parent, add_default_route, add_veth_master, check_attachment, info_data,
    parent_of, sorted_names,
};
use testkit::netns::{Namespace, have_ping, skip_without_root};

/// The driver's libcni (1.1.2) cannot parse 1.1.0 results.
const V: &str = "1.0.0";
const SUBNET4: &str = "10.84.0.0/24";
const GW4: &str = "10.84.0.1";
/// The host namespace's own address on the master, and its default gateway.
const HOST_ADDR: &str = "10.85.0.254/24";
const HOST_GW: &str = "10.85.0.1";

fn skip() -> bool {
    skip_without_root("the macvlan tests")
}

/// A fresh lab, or `None` (after printing SKIPPED) without root.
fn lab() -> Option<MacvlanLab> {
    (!skip()).then(|| MacvlanLab::new(&our_cni_path(&["macvlan", "host-local"])))
}

fn v4(lab: &MacvlanLab) -> Value {
    lab.host_local(json!([[{ "subnet": SUBNET4 }]]))
}

/// The host namespace's links before any ADD: the master and its peer.
fn host_baseline() -> Vec<String> {
    vec!["lo".to_string(), MASTER.to_string(), MASTER_PEER.to_string()]
}

/// The result of a successful libcni ADD (or go-cni's `Raw[0]`), checked
/// against the pod: layout, MAC, kind, addresses.
#[track_caller]
fn add_result(lab: &MacvlanLab, pod: usize, out: &DriverOut, lib: Lib) -> (Value, Attached) {
    let result = out.assert_result(lib);
    let att = check_attachment(&result, lab.pod(pod), "eth0").unwrap_or_else(|e| panic!("{e}\n{}", out.describe()));
    (result, att)
}

/// ADD through the driver (libcni).
#[track_caller]
fn add(lab: &MacvlanLab, pod: usize) -> (Value, Attached) {
    let out = lab.drive(&lab.call("add", pod));
    add_result(lab, pod, &out, Lib::Libcni)
}

/// The mode the kernel reports for `att`'s link.
fn mode(att: &Attached) -> String {
    info_data(&att.link, "mode").and_then(Value::as_str).unwrap_or("?").to_string()
}

/// The link's parent must be `name` in namespace `ns`.
#[track_caller]
fn assert_parent(lab: &MacvlanLab, pod: usize, att: &Attached, ns: &Namespace, name: &str) {
    let parent = parent_of(lab.pod(pod), &att.link, &[&lab.host, lab.pod(pod)]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        parent,
        Parent { netns: ns.name().to_string(), name: name.to_string() },
        "parent of eth0 in {}: {}",
        lab.pod(pod).name(),
        att.link.raw
    );
}

/// DEL, then the link and the reservation are gone; DEL again.
/// ADD of pod `pod`, whose link must hang off `master` in `ns`, then CHECK,
/// DEL and DEL again.
#[track_caller]
fn add_check_del(lab: &MacvlanLab, pod: usize, ns: &Namespace, master: &str) {
    let (_, att) = add(lab, pod);
    assert_parent(lab, pod, &att, ns, master);
    lab.check_ok(pod, Lib::Libcni);
    del_and_verify(lab, pod);
}

#[track_caller]
fn del_and_verify(lab: &MacvlanLab, pod: usize) {
    lab.del_ok(pod, Lib::Libcni);
    lab.assert_released(pod);
    lab.del_ok(pod, Lib::Libcni);
    lab.assert_released(pod);
}

/// No link or reservation from a failed ADD: the pod holds only `pod_links`,
/// the host only its baseline, the store nothing.
#[track_caller]
fn assert_nothing_left(lab: &MacvlanLab, pod: usize, pod_links: &[&str], what: &str) {
    lab.assert_nothing_left(pod, pod_links, what);
    assert_eq!(lab.host_link_names(), host_baseline(), "{what}: links in the host namespace\n{}", lab.host.dump());
    assert!(lab.reservations().is_empty(), "{what}: reservation left behind: {:?}", lab.reservations());
}

// ---- 1: two pods on one master ---------------------------------------------

#[test]
fn two_pods_bridge_mode_ping_check_del() {
    let Some(mut lab) = lab() else { return };
    assert!(have_ping(), "ping is missing: apt-get install iputils-ping");
    let (a, b) = (lab.add_pod(), lab.add_pod());
    lab.setup(V, json!({ "mode": "bridge" }), v4(&lab));
    let (result_a, att_a) = add(&lab, a);
    let (_, att_b) = add(&lab, b);

    assert_eq!(result_a["cniVersion"], V, "{result_a}");
    assert_eq!(att_a.ips.len(), 1, "{result_a}");
    assert_eq!(result_a["ips"][0]["gateway"], GW4, "{result_a}");
    assert_ne!(att_a.ips, att_b.ips, "two pods, two addresses");
    for (p, att) in [(a, &att_a), (b, &att_b)] {
        assert!(att.link.admin_up(), "eth0 must be up: {}", att.link.raw);
        assert_eq!(mode(att), "bridge", "{}", att.link.raw);
        assert_parent(&lab, p, att, &lab.host, MASTER);
        assert_eq!(sorted_names(lab.pod(p)), ["eth0", "lo"], "only eth0 is added to the pod");
        assert_eq!(lab.pod(p).sysctl("net.ipv4.conf.eth0.arp_notify").unwrap(), "1");
        assert_eq!(lab.pod(p).sysctl("net.ipv6.conf.eth0.ndisc_notify").unwrap(), "1");
    }
    assert_ne!(att_a.link.mac(), att_b.link.mac(), "each macvlan has its own MAC");
    // The link was born in the pod and renamed there: nothing on the host side.
    assert_eq!(lab.host_link_names(), host_baseline(), "links in the host namespace\n{}", lab.host.dump());
    assert_eq!(lab.held_by(a), [att_a.ips[0].split('/').next().unwrap()], "the reservation is pod a's");

    let mut failures = Vec::new();
    for (from, to) in [(a, &att_b), (b, &att_a)] {
        if let Err(e) = lab.pod(from).ping(&to.ips[0]) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    lab.check_ok(a, Lib::Libcni);
    lab.check_ok(b, Lib::Libcni);
    del_and_verify(&lab, a);
    // The other pod is untouched by a's DEL.
    assert!(lab.pod(b).link("eth0").is_some(), "DEL of pod a removed pod b's link");
    lab.check_ok(b, Lib::Libcni);
    del_and_verify(&lab, b);
    assert_eq!(lab.host_link_names(), host_baseline(), "DEL must leave the master alone");
}

#[test]
fn gocni_smoke() {
    let Some(mut lab) = lab() else { return };
    let p = lab.add_pod();
    lab.setup(V, json!({}), v4(&lab));
    let out = lab.drive(&lab.call("add", p).lib(Lib::Gocni));
    let (_, att) = add_result(&lab, p, &out, Lib::Gocni);
    assert_eq!(att.ips.len(), 1);
    assert_eq!(mode(&att), "bridge", "default mode: {}", att.link.raw);
    lab.check_ok(p, Lib::Gocni);
    lab.del_ok(p, Lib::Gocni);
    lab.assert_released(p);
    lab.del_ok(p, Lib::Gocni);
}

#[test]
fn cni_version_0_4_0_result() {
    let Some(mut lab) = lab() else { return };
    let p = lab.add_pod();
    lab.setup("0.4.0", json!({}), v4(&lab));
    let (result, att) = add(&lab, p);
    assert_eq!(result["cniVersion"], "0.4.0", "{result}");
    assert_eq!(result["ips"][0]["version"], "4", "0.4.0 results carry ips[].version: {result}");
    assert_eq!(att.ips.len(), 1);
    lab.check_ok(p, Lib::Libcni);
    del_and_verify(&lab, p);
}

#[test]
fn concurrent_adds_on_one_master() {
    let Some(mut lab) = lab() else { return };
    let pods: Vec<usize> = (0..8).map(|_| lab.add_pod()).collect();
    lab.setup(V, json!({}), v4(&lab));
    let outs = lab.add_concurrently(&pods);
    let mut addrs = Vec::new();
    for (out, &p) in outs.iter().zip(&pods) {
        let (_, att) = add_result(&lab, p, out, Lib::Libcni);
        assert_parent(&lab, p, &att, &lab.host, MASTER);
        addrs.extend(att.ips);
    }
    let mut unique = addrs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 8, "addresses must be unique: {addrs:?}");
    assert_eq!(lab.host_link_names(), host_baseline(), "temporary links left on the host\n{}", lab.host.dump());
    for &p in &pods {
        lab.check_ok(p, Lib::Libcni);
        del_and_verify(&lab, p);
    }
}

// ---- 2-3: where the master is ----------------------------------------------

#[test]
fn master_omitted_is_default_route_interface() {
    let Some(mut lab) = lab() else { return };
    // A decoy created first (lower ifindex), without a default route.
    add_veth_master(&lab.host, "decoy0", "decoy0p").unwrap();
    add_default_route(&lab.host, MASTER, HOST_ADDR, HOST_GW).unwrap();
    let p = lab.add_pod();
    lab.setup(V, json!({ "master": null }), v4(&lab));
    add_check_del(&lab, p, &lab.host, MASTER);
}

#[test]
fn master_omitted_ipv6_only_default_route() {
    // An IPv6-only node: the reference lists the main table's routes of
    // every family and takes the first without a destination.
    let Some(mut lab) = lab() else { return };
    add_veth_master(&lab.host, "decoy0", "decoy0p").unwrap();
    lab.host.ip(&["-6", "addr", "add", "fd85::254/64", "dev", MASTER, "nodad"]).unwrap();
    lab.host.ip(&["-6", "route", "add", "default", "via", "fd85::1", "dev", MASTER]).unwrap();
    let p = lab.add_pod();
    lab.setup(V, json!({ "master": null }), v4(&lab));
    add_check_del(&lab, p, &lab.host, MASTER);
}

#[test]
fn link_in_container_master_in_pod() {
    let Some(mut lab) = lab() else { return };
    let p = lab.add_pod();
    // The master exists only in the pod: a lookup on the host would fail.
    add_veth_master(lab.pod(p), "pmaster0", "ppeer0").unwrap();
    lab.setup(V, json!({ "master": "pmaster0", "linkInContainer": true }), v4(&lab));
    let (_, att) = add(&lab, p);
    assert_parent(&lab, p, &att, lab.pod(p), "pmaster0");
    assert_eq!(mode(&att), "bridge");
    assert_eq!(lab.host_link_names(), host_baseline(), "nothing on the host side\n{}", lab.host.dump());
    lab.check_ok(p, Lib::Libcni);
    del_and_verify(&lab, p);
    assert!(lab.pod(p).link("pmaster0").is_some(), "DEL must leave the in-pod master alone");
}

#[test]
fn link_in_container_master_omitted_uses_pods_default_route() {
    let Some(mut lab) = lab() else { return };
    // The host has a default route too, via the host master: it must not be used.
    add_default_route(&lab.host, MASTER, HOST_ADDR, HOST_GW).unwrap();
    let p = lab.add_pod();
    add_veth_master(lab.pod(p), "pmaster0", "ppeer0").unwrap();
    add_default_route(lab.pod(p), "pmaster0", "10.86.0.254/24", "10.86.0.1").unwrap();
    lab.setup(V, json!({ "master": null, "linkInContainer": true }), v4(&lab));
    add_check_del(&lab, p, lab.pod(p), "pmaster0");
}

// ---- 4: modes ----------------------------------------------------------------

#[test]
fn modes_are_visible_in_the_kernel() {
    let Some(mut lab) = lab() else { return };
    let p = lab.add_pod();
    // One at a time: passthru wants the master to itself.
    for m in ["private", "vepa", "passthru", "bridge"] {
        lab.setup(V, json!({ "mode": m }), v4(&lab));
        let (_, att) = add(&lab, p);
        assert_eq!(mode(&att), m, "mode {m}: {}", att.link.raw);
        assert_parent(&lab, p, &att, &lab.host, MASTER);
        lab.check_ok(p, Lib::Libcni);
        del_and_verify(&lab, p);
    }
}

// ---- 5: MAC precedence ---------------------------------------------------------

#[test]
fn mac_precedence_config_then_cni_args_then_runtime_config() {
    let Some(mut lab) = lab() else { return };
    let pods: Vec<usize> = (0..3).map(|_| lab.add_pod()).collect();
    let (conf_mac, args_mac, rc_mac) = ("c2:00:00:84:00:01", "c2:00:00:84:00:02", "c2:00:00:84:00:03");
    lab.setup(V, json!({ "mac": conf_mac, "capabilities": { "mac": true } }), v4(&lab));
    let args = format!("IgnoreUnknown=1;MAC={args_mac}");
    let cases = [
        ("config mac only", lab.call("add", pods[0]), conf_mac),
        ("CNI_ARGS MAC over config mac", lab.call("add", pods[1]).cni_args(&args), args_mac),
        (
            "runtimeConfig.mac over CNI_ARGS and config",
            lab.call("add", pods[2]).cni_args(&args).cap_args(json!({ "mac": rc_mac })),
            rc_mac,
        ),
    ];
    let mut failures = Vec::new();
    for ((what, call, want), &p) in cases.iter().zip(&pods) {
        let out = lab.drive(call);
        let (result, att) = add_result(&lab, p, &out, Lib::Libcni);
        if att.link.mac() != *want || result["interfaces"][0]["mac"] != *want {
            failures.push(format!(
                "{what}: want {want}, kernel {}, result {}",
                att.link.mac(),
                result["interfaces"][0]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // CHECK and DEL the way the runtime would: with the same arguments.
    for ((_, call, _), &p) in cases.iter().zip(&pods) {
        let mut check = call.clone();
        check.verb = "check";
        lab.drive(&check).assert_ok();
        let mut del = call.clone();
        del.verb = "del";
        lab.drive(&del).assert_ok();
        lab.assert_released(p);
        lab.drive(&del).assert_ok();
    }
}

// ---- 6: mtu, bcqueuelen ------------------------------------------------------

#[test]
fn mtu_applied() {
    let Some(mut lab) = lab() else { return };
    let p = lab.add_pod();
    lab.setup(V, json!({ "mtu": 1400 }), v4(&lab));
    let (_, att) = add(&lab, p);
    assert_eq!(att.link.mtu(), 1400, "{}", att.link.raw);
    assert_eq!(lab.host.require_link(MASTER).mtu(), 1500, "the master's MTU is not touched");
    lab.check_ok(p, Lib::Libcni);
    del_and_verify(&lab, p);
}

#[test]
fn mtu_above_masters_is_code_7_and_leaves_nothing() {
    let Some(mut lab) = lab() else { return };
    let p = lab.add_pod();
    lab.host.ip(&["link", "set", MASTER, "mtu", "1450"]).unwrap();
    lab.setup(V, json!({ "mtu": 1451 }), v4(&lab));
    lab.assert_add_fails(p, 7, "mtu");
    assert_nothing_left(&lab, p, &["lo"], "mtu above the master's");
    assert!(!lab.cache_entry(p, "eth0").exists(), "no cache entry for a failed ADD");
    // The master's own MTU is the upper bound, inclusive.
    lab.setup(V, json!({ "mtu": 1450 }), v4(&lab));
    let (_, att) = add(&lab, p);
    assert_eq!(att.link.mtu(), 1450);
    lab.check_ok(p, Lib::Libcni);
    del_and_verify(&lab, p);
}

#[test]
fn bcqueuelen_applied() {
    let Some(mut lab) = lab() else { return };
    let p = lab.add_pod();
    lab.setup(V, json!({ "bcqueuelen": 123 }), v4(&lab));
    let (_, att) = add(&lab, p);
    assert_eq!(info_data(&att.link, "bcqueuelen"), Some(&json!(123)), "{}", att.link.raw);
    lab.check_ok(p, Lib::Libcni);
    del_and_verify(&lab, p);
}

// ---- 7: L2 ------------------------------------------------------------------

#[test]
fn l2_only_link_up_no_address_check_passes() {
    let Some(mut lab) = lab() else { return };
    let p = lab.add_pod();
    lab.setup(V, json!({}), json!({}));
    let (result, att) = add(&lab, p);
    assert!(att.ips.is_empty(), "L2: no ips expected: {result}");
    assert!(result["routes"].as_array().is_none_or(|r| r.is_empty()), "L2: no routes expected: {result}");
    assert!(att.link.admin_up(), "L2: eth0 must be up");
    assert!(lab.pod(p).global_addrs("eth0").is_empty(), "L2: no address\n{}", lab.pod(p).dump());
    assert_parent(&lab, p, &att, &lab.host, MASTER);
    // The reference (1.1.1 and upstream HEAD) sets arp_notify/ndisc_notify
    // only when it configures addresses; L2 just brings the link up.
    let notify: Vec<String> = ["net.ipv4.conf.eth0.arp_notify", "net.ipv6.conf.eth0.ndisc_notify"]
        .iter()
        .map(|k| format!("{k}={}", lab.pod(p).sysctl(k).unwrap()))
        .collect();
    assert_eq!(
        notify,
        ["net.ipv4.conf.eth0.arp_notify=0", "net.ipv6.conf.eth0.ndisc_notify=0"],
        "L2: the link is only brought up"
    );
    lab.check_ok(p, Lib::Libcni);
    del_and_verify(&lab, p);
}

// ---- 8: DEL when things are gone ------------------------------------------------

#[test]
fn del_after_netns_deleted() {
    let Some(mut lab) = lab() else { return };
    let p = lab.add_pod();
    lab.setup(V, json!({}), v4(&lab));
    add(&lab, p);
    assert_eq!(lab.held_by(p).len(), 1);
    lab.pod(p).delete().unwrap();
    del_and_verify(&lab, p);
}

#[test]
fn del_with_empty_netns() {
    let Some(mut lab) = lab() else { return };
    let p = lab.add_pod();
    lab.setup(V, json!({}), v4(&lab));
    let (result, _) = add(&lab, p);
    assert_eq!(lab.held_by(p).len(), 1);
    // What libcni would send, minus the netns: the plugin object + prevResult.
    let plugin_conf = lab.plugin_conf(V, lab.macvlan_plugin(json!({}), v4(&lab)));
    let macvlan = Binary::ours("macvlan");
    lab.del_without_netns(&macvlan, p, &plugin_conf, &result).assert_ok_silent();
    assert!(lab.held_by(p).is_empty(), "DEL with empty netns must release the address: {:?}", lab.reservations());
    lab.del_without_netns(&macvlan, p, &plugin_conf, &result).assert_ok_silent();
}

#[test]
fn del_after_master_deleted() {
    // With `master` named, and with it taken from the (now gone) default route.
    for (what, extra) in [("master named", json!({})), ("master from the default route", json!({ "master": null }))] {
        let Some(mut lab) = lab() else { return };
        let p = lab.add_pod();
        add_default_route(&lab.host, MASTER, HOST_ADDR, HOST_GW).unwrap();
        lab.setup(V, extra, v4(&lab));
        add(&lab, p);
        lab.host.ip(&["link", "del", MASTER]).unwrap();
        // The kernel removes macvlans along with their lower device.
        assert!(lab.pod(p).link("eth0").is_none(), "{what}: eth0 outlived its master\n{}", lab.pod(p).dump());
        let out = lab.drive(&lab.call("del", p));
        assert!(out.success(), "{what}: DEL after the master was deleted must succeed\n{}", out.describe());
        lab.assert_released(p);
        lab.del_ok(p, Lib::Libcni);
    }
}

// ---- 9: CHECK after tampering -------------------------------------------------

#[test]
fn check_fails_after_tampering() {
    let Some(mut lab) = lab() else { return };
    let tamper: [(&str, &[&str]); 6] = [
        ("address removed", &["addr", "flush", "dev", "eth0", "scope", "global"]),
        ("link down", &["link", "set", "eth0", "down"]),
        ("MAC changed", &["link", "set", "eth0", "address", "c2:00:00:84:ff:01"]),
        ("MTU changed", &["link", "set", "eth0", "mtu", "1300"]),
        ("route removed", &["route", "del", "10.99.0.0/16"]),
        ("replaced by a veth", &["link", "del", "eth0"]),
    ];
    let pods: Vec<usize> = tamper.iter().map(|_| lab.add_pod()).collect();
    let mut ipam = v4(&lab);
    ipam["routes"] = json!([{ "dst": "10.99.0.0/16" }]);
    lab.setup(V, json!({ "mtu": 1400 }), ipam);
    for &p in &pods {
        add(&lab, p);
        lab.check_ok(p, Lib::Libcni);
    }
    let mut failures = Vec::new();
    for ((what, cmd), &p) in tamper.iter().zip(&pods) {
        lab.pod(p).ip(cmd).unwrap_or_else(|e| panic!("{what}: {e}"));
        if *what == "replaced by a veth" {
            lab.pod(p).ip(&["link", "add", "eth0", "type", "veth", "peer", "name", "eth0peer"]).unwrap();
            lab.pod(p).ip(&["link", "set", "eth0", "up"]).unwrap();
        }
        if let Err(e) = lab.drive(&lab.call("check", p)).check_error_code(103) {
            failures.push(format!("{what}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for (i, &p) in pods.iter().enumerate() {
        lab.del_ok(p, Lib::Libcni);
        assert!(lab.held_by(p).is_empty(), "{}: reservation left after DEL", tamper[i].0);
        if tamper[i].0 != "replaced by a veth" {
            // (The veth that replaced eth0 is not ours: what DEL does with it is not pinned down.)
            assert!(lab.pod(p).link("eth0").is_none(), "{}: eth0 left after DEL", tamper[i].0);
        }
        lab.del_ok(p, Lib::Libcni);
    }
}

// ---- 10: bad input -----------------------------------------------------------------

/// A config ADD must refuse with code 7 naming `key`, leaving nothing.
struct BadConfig {
    what: &'static str,
    keys: fn() -> Value,
    ipam: fn(&MacvlanLab) -> Value,
    key: &'static str,
}

fn bad_config_is_code_7(case: BadConfig) {
    let Some(mut lab) = lab() else { return };
    let p = lab.add_pod();
    lab.setup(V, (case.keys)(), (case.ipam)(&lab));
    lab.assert_add_fails(p, 7, case.key);
    assert_nothing_left(&lab, p, &["lo"], case.what);
}

testkit::table_tests!(bad_config_is_code_7 {
    invalid_mode_is_code_7: BadConfig {
        what: "invalid mode",
        keys: || json!({ "mode": "sideways" }),
        ipam: v4,
        key: "mode"
    },
    missing_master_is_code_7: BadConfig {
        what: "missing master",
        keys: || json!({ "master": "nosuchdev0" }),
        ipam: v4,
        key: "master"
    },
    no_master_and_no_default_route_is_code_7: BadConfig {
        what: "no master, no default route",
        keys: || json!({ "master": null }),
        ipam: v4,
        key: "master"
    },
    invalid_mac_is_code_7: BadConfig {
        what: "invalid mac",
        keys: || json!({ "mac": "not-a-mac" }),
        ipam: v4,
        key: "mac"
    },
    missing_ipam_plugin_is_code_7_and_no_link_left: BadConfig {
        what: "missing IPAM plugin",
        keys: || json!({}),
        ipam: |_| json!({ "type": "no-such-ipam-plugin" }),
        key: "ipam.type",
    },
});

#[test]
fn ipam_exhausted_is_101_and_rolls_back_the_link() {
    let Some(mut lab) = lab() else { return };
    let (a, b) = (lab.add_pod(), lab.add_pod());
    let one = lab.host_local(json!([[{ "subnet": SUBNET4, "rangeStart": "10.84.0.10", "rangeEnd": "10.84.0.10" }]]));
    lab.setup(V, json!({}), one);
    let (_, att) = add(&lab, a);
    assert_eq!(att.ips, ["10.84.0.10/24"]);
    // The link is created before IPAM runs: the failure must remove it.
    lab.assert_add_fails(b, 101, "");
    assert_eq!(sorted_names(lab.pod(b)), ["lo"], "link left in the pod after IPAM failed\n{}", lab.pod(b).dump());
    assert_eq!(lab.host_link_names(), host_baseline());
    assert!(lab.held_by(b).is_empty(), "{:?}", lab.reservations());
    lab.check_ok(a, Lib::Libcni);
    del_and_verify(&lab, a);
}

#[test]
fn existing_ifname_is_104_and_leaves_nothing() {
    let Some(mut lab) = lab() else { return };
    let p = lab.add_pod();
    lab.pod(p).ip(&["link", "add", "eth0", "type", "veth", "peer", "name", "eth0peer"]).unwrap();
    lab.setup(V, json!({}), v4(&lab));
    lab.assert_add_fails(p, 104, "eth0");
    assert_nothing_left(&lab, p, &["eth0", "eth0peer", "lo"], "existing ifname");
    assert_eq!(lab.pod(p).require_link("eth0").kind(), "veth", "the existing eth0 must be untouched");
}
