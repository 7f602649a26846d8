//! The vlan plugin through libcni, in fresh namespaces. The CI machine's
//! kernel has no 802.1q, so these run in the VM stage (`--ignored`).
//!
//! Two pods on one VLAN need two masters (the kernel allows one VLAN device
//! per master and id): the lab's host namespace gets a plain bridge "switch"
//! with two veth pairs, whose host ends are the masters.

use serde_json::{Value, json};
use testkit::binary::our_cni_path;
use testkit::driver::Lib;
use testkit::lab::Lab;
use testkit::profile::VLAN;
use testkit::{Binary, Invocation};

/// libcni 1.1.2 (the driver) cannot read 1.1.0 results.
const V: &str = "1.0.0";

fn lab_with_masters() -> Lab {
    let lab = Lab::new(&our_cni_path(&["vlan"]));
    let sw = format!("{}s", lab.prefix);
    let ip = |args: &[&str]| lab.host.ip(args).unwrap_or_else(|e| panic!("{e}"));
    ip(&["link", "add", &sw, "type", "bridge"]);
    ip(&["link", "set", &sw, "up"]);
    for m in ["m1", "m2"] {
        let (master, port) = (format!("{}{m}", lab.prefix), format!("{}p{m}", lab.prefix));
        ip(&["link", "add", &master, "type", "veth", "peer", "name", &port]);
        ip(&["link", "set", &port, "master", &sw, "up"]);
        ip(&["link", "set", &master, "up"]);
    }
    lab
}

fn master(lab: &Lab, m: &str) -> String {
    format!("{}{m}", lab.prefix)
}

/// The vlan profile's keys on `master` (VLAN id 100), with `extra` over them.
fn vlan_plugin(lab: &Lab, master: &str, extra: Value, subnet: Option<&str>) -> Value {
    let mut p = VLAN.keys_on(lab.tmp(), master);
    for (k, v) in extra.as_object().into_iter().flatten() {
        p[k] = v.clone();
    }
    p["ipam"] = match subnet {
        Some(s) => lab.host_local(json!([[{ "subnet": s }]])),
        None => json!({}),
    };
    p
}

/// One network per master: `<net>-m1`, `<net>-m2`, written as conflists.
fn write_nets(lab: &Lab, extra: Value, subnet: Option<&str>) {
    let base = lab.net.clone();
    for m in ["m1", "m2"] {
        let mut c = lab.conflist(V, vec![vlan_plugin(lab, &master(lab, m), extra.clone(), subnet)]);
        c["name"] = json!(format!("{base}-{m}"));
        let path = lab.ipam_dir().parent().unwrap().join("net.d").join(format!("{base}-{m}.conflist"));
        std::fs::write(path, serde_json::to_string(&c).unwrap()).unwrap();
    }
}

fn drive(lab: &Lab, verb: &'static str, pod: usize, net: &str) -> testkit::driver::DriverOut {
    let call =
        testkit::driver::Call::new(verb, net, &lab.pod(pod).path_str()).container_id(&lab.cid(pod)).lib(Lib::Libcni);
    lab.drive(&call)
}

/// host-local's reservations of network `net` in the lab's dataDir.
fn reservations(lab: &Lab, net: &str) -> std::collections::BTreeMap<String, String> {
    testkit::store::reservations(&lab.ipam_dir().join(net)).unwrap_or_default()
}

fn addr_of(result: &Value) -> String {
    result["ips"][0]["address"].as_str().unwrap_or_default().split('/').next().unwrap_or_default().to_string()
}

#[test]
#[ignore = "needs 802.1q (VM stage)"]
fn two_pods_on_one_vlan_ping_then_clean_up() {
    for (proto, subnet) in [("802.1q", "10.86.0.0/24"), ("802.1ad", "10.86.1.0/24")] {
        let mut lab = lab_with_masters();
        let (a, b) = (lab.add_pod(), lab.add_pod());
        write_nets(&lab, json!({ "vlanProto": proto }), Some(subnet));
        let (n1, n2) = (format!("{}-m1", lab.net), format!("{}-m2", lab.net));
        let ra = drive(&lab, "add", a, &n1).assert_ok().expect("result");
        let rb = drive(&lab, "add", b, &n2).assert_ok().expect("result");
        assert_eq!(ra["interfaces"].as_array().map(Vec::len), Some(1), "{ra}");
        assert_eq!(ra["ips"][0]["interface"], 0, "{ra}");
        // iproute2 prints the protocol as 802.1Q / 802.1ad.
        let shown = lab.pod(a).ip(&["-d", "link", "show", "eth0"]).unwrap().to_lowercase();
        assert!(shown.contains(&format!("vlan protocol {proto} id 100")), "{shown}");
        let ping = lab.pod(a).exec(&["ping", "-c", "1", "-W", "3", &addr_of(&rb)]);
        assert!(ping.status.success(), "{proto}: {}", String::from_utf8_lossy(&ping.stdout));
        drive(&lab, "check", a, &n1).assert_ok();
        lab.pod(a).ip(&["link", "set", "eth0", "down"]).unwrap();
        drive(&lab, "check", a, &n1).assert_error_code(103);
        for (p, n) in [(a, &n1), (b, &n2)] {
            drive(&lab, "del", p, n).assert_ok();
            assert!(lab.pod(p).link("eth0").is_none());
            drive(&lab, "del", p, n).assert_ok();
        }
        for n in [&n1, &n2] {
            assert!(reservations(&lab, n).is_empty(), "{n}: {:?}", reservations(&lab, n));
        }
    }
}

#[test]
#[ignore = "needs 802.1q (VM stage)"]
fn a_taken_master_and_id_pair_is_refused_clearly() {
    let mut lab = lab_with_masters();
    let (a, b) = (lab.add_pod(), lab.add_pod());
    write_nets(&lab, json!({}), Some("10.86.2.0/24"));
    let n1 = format!("{}-m1", lab.net);
    drive(&lab, "add", a, &n1).assert_ok();
    let err = drive(&lab, "add", b, &n1).assert_error_code(7);
    assert!(err["msg"].as_str().unwrap_or_default().starts_with("vlanId"), "{err}");
    assert!(lab.pod(b).link("eth0").is_none(), "nothing may be left in the refused pod");
    let held = reservations(&lab, &n1);
    assert_eq!(held.len(), 1, "only the first ADD holds an address: {held:?}");
}

#[test]
#[ignore = "needs 802.1q (VM stage)"]
fn l2_mode_and_del_after_the_master_is_gone() {
    let mut lab = lab_with_masters();
    let a = lab.add_pod();
    write_nets(&lab, json!({}), None);
    let n1 = format!("{}-m1", lab.net);
    let r = drive(&lab, "add", a, &n1).assert_ok().expect("result");
    assert!(r.get("ips").is_none(), "L2 has no addresses: {r}");
    assert!(lab.pod(a).require_link("eth0").admin_up());
    drive(&lab, "check", a, &n1).assert_ok();
    lab.host.ip(&["link", "del", &master(&lab, "m1")]).unwrap();
    drive(&lab, "del", a, &n1).assert_ok();
    drive(&lab, "del", a, &n1).assert_ok();
}

#[test]
#[ignore = "needs 802.1q (VM stage)"]
fn bad_input_leaves_nothing() {
    let mut lab = lab_with_masters();
    let p = lab.add_pod();
    let pod = lab.pod(p).path_str();
    let cases = [
        ("mtu above the master's", json!({ "mtu": 9000 }), "mtu"),
        ("missing master", json!({ "master": "rcnonexist0" }), "master"),
        ("vlanId 4095", json!({ "vlanId": 4095 }), "vlanId"),
        ("bad vlanProto", json!({ "vlanProto": "802.1x" }), "vlanProto"),
    ];
    for (what, extra, field) in cases {
        let mut conf = vlan_plugin(&lab, &master(&lab, "m1"), extra, Some("10.86.3.0/24"));
        conf["cniVersion"] = json!(V);
        conf["name"] = json!(lab.net);
        let inv = Invocation::add().attachment(&lab.cid(p), "eth0").set("CNI_NETNS", &pod).stdin_json(&conf);
        lab.exec_plugin(&Binary::ours("vlan"), &inv)
            .check_error_naming(7, &[field])
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(lab.pod(p).link("eth0").is_none(), "{what}: link left behind");
        assert!(reservations(&lab, &lab.net).is_empty(), "{what}: reservation left behind");
    }
}

/// `policyRouting` comes with the shared steps: the rail's rule and table
/// after ADD (rail from config, the ifname is eth0), CHECK verifies them,
/// DEL removes the rule.
#[test]
#[ignore = "needs 802.1q (VM stage)"]
fn policy_routing_on_a_vlan() {
    let mut lab = lab_with_masters();
    let p = lab.add_pod();
    let mut conf = vlan_plugin(&lab, &master(&lab, "m1"), json!({ "policyRouting": { "rail": 4 } }), None);
    conf["ipam"] = lab.host_local(json!([[{ "subnet": "10.86.4.0/24", "gateway": "10.86.4.1" }]]));
    let conf = lab.plugin_conf(V, conf);
    let plugin = Binary::ours("vlan");
    let exec = |verb: &str, stdin: &Value| {
        let inv = Invocation::attachment_verb(verb)
            .attachment(&lab.cid(p), "eth0")
            .set("CNI_NETNS", &lab.pod(p).path_str())
            .stdin_json(stdin);
        lab.exec_plugin(&plugin, &inv)
    };
    let result = exec("ADD", &conf).assert_ok_json();
    let addr = addr_of(&result);
    let rules = lab.pod(p).ip(&["rule"]).unwrap();
    assert!(rules.contains(&format!("1004:\tfrom {addr} lookup 1004")), "{rules}");
    let table = lab.pod(p).ip(&["route", "show", "table", "1004"]).unwrap();
    assert!(table.contains("default via 10.86.4.1 dev eth0"), "{table}");
    let with_prev = testkit::conf::with_prev_result(&conf, &result);
    exec("CHECK", &with_prev).assert_ok();
    exec("DEL", &with_prev).assert_ok();
    assert_eq!(lab.pod(p).ip(&["rule"]).unwrap().lines().count(), 3);
}
