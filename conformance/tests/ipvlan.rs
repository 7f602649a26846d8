//! The ipvlan plugin end to end, through the Go runtime driver (libcni) and
//! by direct exec where a runtime cannot express the case (cniVersion 1.1.0,
//! chaining with a hand-made prevResult, GC). The CI machine's kernel has no
//! ipvlan, so every test runs in the VM stage (`--ignored`).
//!
//! Each test builds a [`MacvlanLab`] for the ipvlan type: a private "host"
//! namespace with a veth master, pod namespaces and temp dirs (ipvlan's
//! `stateDir` among them), all removed on drop.

use serde_json::{Value, json};
use testkit::binary::our_cni_path;
use testkit::driver::Lib;
use testkit::lab::macvlan::{
    Attached, MASTER, MacvlanLab, add_default_route, add_veth_master, check_attachment_of, info_data, sorted_names,
};
use testkit::{Binary, Invocation};

/// The driver's libcni (1.1.2) cannot parse 1.1.0 results.
const V: &str = "1.0.0";
const SUBNET4: &str = "10.87.0.0/24";

fn lab() -> MacvlanLab {
    MacvlanLab::of_kind("ipvlan", &our_cni_path(&["ipvlan", "host-local", "macvlan"]))
}

fn v4(lab: &MacvlanLab) -> Value {
    lab.host_local(json!([[{ "subnet": SUBNET4 }]]))
}

/// `extra` plus a `stateDir` inside the lab, so records never touch the machine's.
fn keys(lab: &MacvlanLab, extra: Value) -> Value {
    let mut e = extra;
    e["stateDir"] = json!(lab.tmp().join("ipvlan-state"));
    e
}

/// Writes the one-plugin conflist (version `V`).
fn setup(lab: &MacvlanLab, extra: Value) {
    lab.setup(V, keys(lab, extra), v4(lab));
}

/// The plugin config for direct exec (no runtime).
fn conf(lab: &MacvlanLab, version: &str, extra: Value, ipam: Value) -> Value {
    lab.plugin_conf(version, lab.macvlan_plugin(keys(lab, extra), ipam))
}

#[track_caller]
fn add(lab: &MacvlanLab, pod: usize) -> (Value, Attached) {
    let out = lab.drive(&lab.call("add", pod));
    let result = out.assert_result(Lib::Libcni);
    let att = check_attachment_of("ipvlan", &result, lab.pod(pod), "eth0")
        .unwrap_or_else(|e| panic!("{e}\n{}", out.describe()));
    (result, att)
}

/// The port mode and flag the kernel reports for pod `pod`'s eth0.
fn port_of(lab: &MacvlanLab, pod: usize) -> (String, String) {
    let link = lab.pod(pod).require_link("eth0");
    let mode = info_data(&link, "mode").and_then(Value::as_str).unwrap_or("?").to_string();
    // iproute2 prints the flag as a boolean key of its own.
    let flag = ["bridge", "private", "vepa"].into_iter().find(|f| info_data(&link, f) == Some(&json!(true)));
    (mode, flag.unwrap_or("?").to_string())
}

#[track_caller]
fn del_and_verify(lab: &MacvlanLab, pod: usize) {
    lab.del_ok(pod, Lib::Libcni);
    lab.assert_released(pod);
    assert!(lab.pod(pod).link("eth0").is_none(), "DEL left eth0\n{}", lab.pod(pod).dump());
    lab.del_ok(pod, Lib::Libcni);
}

/// Nothing from a failed ADD: the pod has only `lo`, the store no reservation.
#[track_caller]
fn assert_nothing_left(lab: &MacvlanLab, pod: usize, what: &str) {
    lab.assert_nothing_left(pod, &["lo"], what);
}

/// A failed libcni ADD of pod `pod` with code `code`, whose msg starts with `key`.
#[track_caller]
fn assert_add_fails(lab: &MacvlanLab, pod: usize, code: u64, key: &str) -> String {
    let msg = lab.assert_add_fails(pod, code, key);
    assert!(msg.starts_with(key), "error msg must start with {key:?}: {msg}");
    msg
}

#[test]
#[ignore = "needs ipvlan (VM stage)"]
fn two_pods_ping_in_l2_and_l3_then_check_and_clean_up() {
    for mode in ["l2", "l3"] {
        let mut lab = lab();
        let (a, b) = (lab.add_pod(), lab.add_pod());
        setup(&lab, json!({ "mode": mode }));
        let (ra, att_a) = add(&lab, a);
        let (_, att_b) = add(&lab, b);
        assert_eq!(ra["ips"][0]["interface"], 0, "{ra}");
        assert_eq!(port_of(&lab, a), (mode.to_string(), "bridge".to_string()), "{mode}");
        // ipvlan links share the master's MAC.
        assert_eq!(att_a.link.mac(), lab.host.require_link(MASTER).mac(), "{mode}");
        assert_eq!(lab.pod(a).sysctl("net.ipv4.conf.eth0.arp_notify").unwrap(), "1");
        assert_eq!(sorted_names(&lab.host), ["lo", MASTER, "peer0"], "nothing added on the host side");
        let dst = att_b.ips[0].split('/').next().unwrap();
        lab.pod(a).ping(dst).unwrap_or_else(|e| panic!("{mode}: {e}"));
        lab.check_ok(a, Lib::Libcni);
        lab.pod(a).ip(&["addr", "flush", "dev", "eth0"]).unwrap();
        lab.drive(&lab.call("check", a)).assert_error_code(103);
        del_and_verify(&lab, a);
        lab.check_ok(b, Lib::Libcni);
        del_and_verify(&lab, b);
    }
}

#[test]
#[ignore = "needs ipvlan (VM stage)"]
fn cni_versions_0_4_0_by_libcni_and_1_1_0_by_exec() {
    let mut lab = lab();
    let p = lab.add_pod();
    lab.setup("0.4.0", keys(&lab, json!({})), v4(&lab));
    let (r, _) = add(&lab, p);
    assert_eq!(r["cniVersion"], "0.4.0", "{r}");
    assert_eq!(r["ips"][0]["version"], "4", "{r}");
    lab.check_ok(p, Lib::Libcni);
    del_and_verify(&lab, p);

    let c = conf(&lab, "1.1.0", json!({}), v4(&lab));
    let ipvlan = Binary::ours("ipvlan");
    let pod = lab.pod(p).path_str();
    let inv = |i: Invocation| i.attachment(&lab.cid(p), "eth0").set("CNI_NETNS", &pod);
    let r = lab.exec_plugin(&ipvlan, &inv(Invocation::add()).stdin_json(&c)).assert_ok_json();
    assert_eq!(r["cniVersion"], "1.1.0", "{r}");
    check_attachment_of("ipvlan", &r, lab.pod(p), "eth0").unwrap();
    let with_prev = testkit::conf::with_prev_result(&c, &r);
    lab.exec_plugin(&ipvlan, &inv(Invocation::check()).stdin_json(&with_prev)).assert_ok();
    lab.exec_plugin(&ipvlan, &inv(Invocation::del()).stdin_json(&with_prev)).assert_ok();
    lab.assert_released(p);
}

#[test]
#[ignore = "needs ipvlan (VM stage)"]
fn a_different_mode_or_flag_on_a_used_master_is_refused() {
    let mut lab = lab();
    let (a, b) = (lab.add_pod(), lab.add_pod());
    setup(&lab, json!({ "mode": "l2" }));
    add(&lab, a);
    for (extra, key) in [(json!({ "mode": "l3" }), "mode"), (json!({ "mode": "l2", "flag": "private" }), "flag")] {
        setup(&lab, extra);
        let msg = assert_add_fails(&lab, b, 7, key);
        assert!(msg.contains(MASTER), "{msg}");
        assert_nothing_left(&lab, b, key);
        assert_eq!(port_of(&lab, a), ("l2".to_string(), "bridge".to_string()), "pod a's port must be untouched");
    }
    // The same mode is fine, and once every user is gone, so is another one.
    setup(&lab, json!({ "mode": "l2" }));
    add(&lab, b);
    del_and_verify(&lab, b);
    del_and_verify(&lab, a);
    setup(&lab, json!({ "mode": "l3", "flag": "vepa" }));
    add(&lab, b);
    assert_eq!(port_of(&lab, b), ("l3".to_string(), "vepa".to_string()));
    lab.check_ok(b, Lib::Libcni);
    del_and_verify(&lab, b);
}

#[test]
#[ignore = "needs ipvlan (VM stage)"]
fn a_pod_gone_without_del_does_not_block_another_mode() {
    let mut lab = lab();
    let (a, b) = (lab.add_pod(), lab.add_pod());
    setup(&lab, json!({ "mode": "l2" }));
    add(&lab, a);
    // The netns goes (and the link with it), and no DEL comes: a stale record.
    lab.pod(a).delete().unwrap();
    setup(&lab, json!({ "mode": "l3" }));
    add(&lab, b);
    del_and_verify(&lab, b);
    lab.del_ok(a, Lib::Libcni);
}

#[test]
#[ignore = "needs ipvlan (VM stage)"]
fn a_master_carrying_macvlan_is_refused_clearly() {
    let mut lab = lab();
    let (a, b) = (lab.add_pod(), lab.add_pod());
    let mut mv = lab.macvlan_plugin(json!({}), v4(&lab));
    mv["type"] = json!("macvlan");
    lab.write_conflist(&lab.conflist(V, vec![mv.clone()]));
    lab.drive(&lab.call("add", a)).assert_result(Lib::Libcni);
    setup(&lab, json!({}));
    let msg = assert_add_fails(&lab, b, 7, "master");
    assert!(msg.contains("macvlan"), "{msg}");
    assert_nothing_left(&lab, b, "macvlan master");

    // And the other way round: railcni's macvlan on a master that carries ipvlan.
    lab.del_ok(a, Lib::Libcni);
    add(&lab, b);
    lab.write_conflist(&lab.conflist(V, vec![mv]));
    let msg = assert_add_fails(&lab, a, 7, "master");
    assert!(msg.contains("ipvlan"), "{msg}");
    assert_nothing_left(&lab, a, "ipvlan master");
    del_and_verify(&lab, b);
}

#[test]
#[ignore = "needs ipvlan (VM stage)"]
fn master_from_default_route_and_del_without_master_or_route() {
    let mut lab = lab();
    add_veth_master(&lab.host, "decoy0", "decoy0p").unwrap();
    add_default_route(&lab.host, MASTER, "10.88.0.254/24", "10.88.0.1").unwrap();
    let p = lab.add_pod();
    setup(&lab, json!({ "master": null }));
    let (_, att) = add(&lab, p);
    assert_eq!(att.link.raw["link_index"], lab.host.require_link(MASTER).raw["ifindex"], "{}", att.link.raw);
    lab.check_ok(p, Lib::Libcni);
    // No master and no default route any more: DEL needs neither.
    lab.host.ip(&["link", "del", MASTER]).unwrap();
    assert!(lab.pod(p).link("eth0").is_none(), "the link goes with its master");
    del_and_verify(&lab, p);
}

#[test]
#[ignore = "needs ipvlan (VM stage)"]
fn link_in_container_and_del_after_the_netns_is_gone() {
    let mut lab = lab();
    let p = lab.add_pod();
    add_veth_master(lab.pod(p), "pmaster0", "ppeer0").unwrap();
    setup(&lab, json!({ "master": "pmaster0", "linkInContainer": true, "mode": "l3" }));
    let (_, att) = add(&lab, p);
    assert_eq!(att.link.raw["link"], "pmaster0", "{}", att.link.raw);
    lab.check_ok(p, Lib::Libcni);
    del_and_verify(&lab, p);
    assert!(lab.pod(p).link("pmaster0").is_some(), "DEL must leave the in-pod master alone");

    setup(&lab, json!({}));
    add(&lab, p);
    lab.pod(p).delete().unwrap();
    lab.del_ok(p, Lib::Libcni);
    lab.assert_released(p);
}

#[test]
#[ignore = "needs ipvlan (VM stage)"]
fn chained_without_ipam_takes_master_and_addresses_from_prev_result() {
    let mut lab = lab();
    let p = lab.add_pod();
    let pod = lab.pod(p).path_str();
    let prev = json!({
        "cniVersion": "1.0.0",
        "interfaces": [{ "name": MASTER }],
        "ips": [{ "address": "10.87.5.7/24", "gateway": "10.87.5.1", "interface": 0 }],
        "routes": [{ "dst": "10.99.0.0/16" }],
    });
    let mut c = conf(&lab, V, json!({ "master": null }), json!({}));
    c.as_object_mut().unwrap().remove("ipam");
    c["prevResult"] = prev;
    let ipvlan = Binary::ours("ipvlan");
    let inv = |i: Invocation| i.attachment(&lab.cid(p), "eth0").set("CNI_NETNS", &pod);
    let r = lab.exec_plugin(&ipvlan, &inv(Invocation::add()).stdin_json(&c)).assert_ok_json();
    let att = check_attachment_of("ipvlan", &r, lab.pod(p), "eth0").unwrap();
    assert_eq!(att.ips, ["10.87.5.7/24"], "{r}");
    assert_eq!(r["routes"][0]["dst"], "10.99.0.0/16", "{r}");
    let routes = lab.pod(p).ip(&["route", "show", "10.99.0.0/16"]).unwrap();
    assert!(routes.contains("via 10.87.5.1 dev eth0"), "{routes}");
    let with_prev = testkit::conf::with_prev_result(&c, &r);
    lab.exec_plugin(&ipvlan, &inv(Invocation::check()).stdin_json(&with_prev)).assert_ok();
    lab.exec_plugin(&ipvlan, &inv(Invocation::del()).stdin_json(&with_prev)).assert_ok();
    assert!(lab.pod(p).link("eth0").is_none());

    // Without IPAM and without addresses to take, ADD is refused naming ipam.
    c.as_object_mut().unwrap().remove("prevResult");
    c["master"] = json!(MASTER);
    lab.exec_plugin(&ipvlan, &inv(Invocation::add()).stdin_json(&c)).assert_error_naming(7, &["ipam"]);
    assert_nothing_left(&lab, p, "no ipam");
}

#[test]
#[ignore = "needs ipvlan (VM stage)"]
fn l2_mode_with_empty_ipam_and_mtu() {
    let mut lab = lab();
    let p = lab.add_pod();
    lab.setup(V, keys(&lab, json!({ "mtu": 1400 })), json!({}));
    let (r, att) = add(&lab, p);
    assert!(r.get("ips").is_none(), "L2 has no addresses: {r}");
    assert!(att.link.admin_up(), "{}", att.link.raw);
    assert_eq!(att.link.mtu(), 1400, "{}", att.link.raw);
    lab.check_ok(p, Lib::Libcni);
    lab.pod(p).ip(&["link", "set", "eth0", "mtu", "1300"]).unwrap();
    lab.drive(&lab.call("check", p)).assert_error_code(103);
    del_and_verify(&lab, p);
}

#[test]
#[ignore = "needs ipvlan (VM stage)"]
fn gc_forgets_records_of_vanished_attachments_only() {
    let mut lab = lab();
    let (a, b) = (lab.add_pod(), lab.add_pod());
    setup(&lab, json!({ "mode": "l2" }));
    add(&lab, a);
    add(&lab, b);
    let records = || -> Vec<String> {
        let root = lab.tmp().join("ipvlan-state");
        let mut names = Vec::new();
        for dir in std::fs::read_dir(&root).unwrap().flatten() {
            for f in std::fs::read_dir(dir.path()).unwrap().flatten() {
                let n = f.file_name().to_string_lossy().to_string();
                if !n.starts_with('.') {
                    names.push(n);
                }
            }
        }
        names.sort();
        names
    };
    assert_eq!(records().len(), 2, "{:?}", records());
    let c = conf(&lab, "1.1.0", json!({ "mode": "l2" }), v4(&lab));
    let mut gc = c.clone();
    gc["cni.dev/valid-attachments"] = json!([{ "containerID": lab.cid(a), "ifname": "eth0" }]);
    lab.exec_plugin(&Binary::ours("ipvlan"), &Invocation::gc().stdin_json(&gc)).assert_ok();
    assert_eq!(records(), [format!("{}@eth0", lab.cid(a))], "GC keeps the valid attachment's record only");
    assert!(lab.held_by(b).is_empty(), "GC released b's address too");
    del_and_verify(&lab, a);
    assert!(records().is_empty(), "{:?}", records());
}

#[test]
#[ignore = "needs ipvlan (VM stage)"]
fn bad_input_is_code_7_naming_the_key_and_leaves_nothing() {
    let mut lab = lab();
    let p = lab.add_pod();
    let cases = [
        (json!({ "mtu": 9000 }), "mtu"),
        (json!({ "master": "rcnonexist0" }), "master"),
        (json!({ "mode": "l4" }), "mode"),
        (json!({ "flag": "loud" }), "flag"),
        (json!({ "stateDir": "relative/dir" }), "stateDir"),
    ];
    for (extra, key) in cases {
        let mut c = conf(&lab, V, json!({}), v4(&lab));
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        let inv = Invocation::add().attachment(&lab.cid(p), "eth0").set("CNI_NETNS", &lab.pod(p).path_str());
        lab.exec_plugin(&Binary::ours("ipvlan"), &inv.stdin_json(&c)).assert_error_naming(7, &[key]);
        assert_nothing_left(&lab, p, key);
    }
}

#[test]
#[ignore = "needs ipvlan (VM stage)"]
fn policy_routing_gives_the_link_its_own_table_and_rule() {
    let mut lab = lab();
    let p = lab.add_pod();
    let ipam = lab.host_local(json!([[{ "subnet": SUBNET4, "gateway": "10.87.0.1" }]]));
    lab.setup(V, keys(&lab, json!({ "policyRouting": { "rail": 4 } })), ipam);
    let (r, att) = add(&lab, p);
    let addr = att.ips[0].split('/').next().unwrap().to_string();
    let rules = lab.pod(p).ip(&["rule", "show"]).unwrap();
    assert!(rules.contains(&format!("1004:\tfrom {addr} lookup 1004")), "{rules}");
    let table = lab.pod(p).ip(&["route", "show", "table", "1004"]).unwrap();
    assert!(table.contains("default via 10.87.0.1 dev eth0"), "{table}\n{r}");
    lab.check_ok(p, Lib::Libcni);
    del_and_verify(&lab, p);
    let rules = lab.pod(p).ip(&["rule", "show"]).unwrap();
    assert!(!rules.contains("lookup 1004"), "DEL left the rule: {rules}");
    // A rule deleted by hand is what CHECK reports.
    add(&lab, p);
    lab.pod(p).ip(&["rule", "del", "priority", "1004"]).unwrap();
    lab.drive(&lab.call("check", p)).assert_error_code(103);
    del_and_verify(&lab, p);
}
