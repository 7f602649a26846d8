//! The tuning plugin end to end, chained after railcni's macvlan the way a
//! rail's NAD chains it, driven by the Go runtime driver (libcni) and, where
//! a runtime cannot express the case, exec'd directly. Every test builds a
//! [`MacvlanLab`] (its own host namespace with the master, pod namespaces,
//! temp dirs), all removed on drop. Needs root (SKIPPED otherwise) and `ip`.

use serde_json::{Value, json};
use testkit::BadKeys;
use testkit::binary::our_cni_path;
use testkit::driver::{DriverOut, Lib};
use testkit::lab::macvlan::{MASTER, MASTER_PEER, MacvlanLab};
use testkit::netns::skip_without_root;
use testkit::{Binary, Invocation, conf};

/// The driver's libcni (1.1.2) cannot parse 1.1.0 results.
const V: &str = "1.0.0";
const IFNAME: &str = "net1";
const SUBNET4: &str = "10.74.0.0/24";
const ARP_IGNORE: &str = "net/ipv4/conf/net1/arp_ignore";

/// A lab whose master can carry MTU 9000, or `None` (SKIPPED) without root.
fn lab() -> Option<MacvlanLab> {
    if skip_without_root("the tuning tests") {
        return None;
    }
    let lab = MacvlanLab::new(&our_cni_path(&["macvlan", "tuning", "host-local"]));
    for dev in [MASTER, MASTER_PEER] {
        lab.host.ip(&["link", "set", dev, "mtu", "9000"]).unwrap_or_else(|e| panic!("{e}"));
    }
    Some(lab)
}

/// The tuning plugin object, its `dataDir` in the lab.
fn tuning(lab: &MacvlanLab, keys: Value) -> Value {
    let mut t = json!({ "type": "tuning", "dataDir": lab.tmp().join("tuning") });
    if let (Some(t), Some(k)) = (t.as_object_mut(), keys.as_object()) {
        t.extend(k.clone());
    }
    t
}

/// Writes the conflist macvlan (host-local) + tuning(`keys`).
fn setup(lab: &MacvlanLab, keys: Value) {
    let ipam = lab.host_local(json!([[{ "subnet": SUBNET4 }]]));
    // macvlan makes net1 with MTU 1500 on a master that can carry 9000: tuning raises it.
    let list = lab.conflist(V, vec![lab.macvlan_plugin(json!({ "mtu": 1500 }), ipam), tuning(lab, keys)]);
    lab.write_conflist(&list);
}

/// The rail's tuning: MTU 9000 and `arp_ignore` on the interface.
fn rail_keys() -> Value {
    json!({ "mtu": 9000, "sysctl": { "net.ipv4.conf.IFNAME.arp_ignore": "1" } })
}

/// A driver verb (libcni) for pod `p`'s `net1`.
fn drive(lab: &MacvlanLab, verb: &'static str, p: usize) -> DriverOut {
    lab.drive(&lab.call(verb, p).ifname(IFNAME))
}

#[track_caller]
fn add_ok(lab: &MacvlanLab, p: usize) -> Value {
    drive(lab, "add", p).assert_result(Lib::Libcni)
}

#[track_caller]
fn del_ok(lab: &MacvlanLab, p: usize) {
    drive(lab, "del", p).assert_ok();
}

/// After the chain's DEL: no `net1`, no reservation, no cache entry, no backup.
#[track_caller]
fn assert_released(lab: &MacvlanLab, p: usize) {
    let pod = lab.pod(p);
    if pod.exists() {
        assert!(pod.link(IFNAME).is_none(), "net1 left after DEL\n{}", pod.dump());
    }
    assert!(lab.held_by(p).is_empty(), "reservation left: {:?}", lab.reservations());
    assert!(!lab.cache_entry(p, IFNAME).exists(), "libcni cache entry left after DEL");
    assert!(backups(lab).is_empty(), "backup left: {:?}", backups(lab));
}

/// tuning's own `verb` (CHECK or DEL) with the chain's result, exec'd as
/// the runtime runs it: DEL first in the chain, so that the test sees the
/// restored values on the still existing `net1`.
fn tuning_verb(lab: &MacvlanLab, verb: &str, p: usize, keys: Value, result: &Value) {
    let stdin = conf::with_prev_result(&lab.plugin_conf(V, tuning(lab, keys)), result);
    let netns = lab.pod(p).path_str();
    let inv = Invocation::attachment_verb(verb).attachment(&lab.cid(p), IFNAME).set("CNI_NETNS", &netns);
    lab.exec_plugin(&Binary::ours("tuning"), &inv.stdin_json(&stdin)).assert_ok_silent();
}

fn backups(lab: &MacvlanLab) -> Vec<String> {
    testkit::footprint::state_files(&lab.tmp().join("tuning"))
}

#[test]
fn after_macvlan_sets_mtu_9000_and_arp_ignore_and_del_restores_both() {
    let Some(mut lab) = lab() else { return };
    let p = lab.add_pod();
    setup(&lab, rail_keys());
    let result = add_ok(&lab, p);
    assert_eq!(result["interfaces"][0]["name"], IFNAME, "{result}");
    let pod = lab.pod(p);
    let link = pod.require_link(IFNAME);
    assert_eq!(link.mtu(), 9000, "{}", link.raw);
    assert_eq!(pod.sysctl(ARP_IGNORE).unwrap(), "1");
    assert_eq!(result["interfaces"][0]["mac"], link.mac(), "the result's MAC is the link's");
    // (The chain's CHECK would fail in macvlan, whose config says 1500: tuning's alone.)
    tuning_verb(&lab, "CHECK", p, rail_keys(), &result);
    assert_eq!(backups(&lab).len(), 1, "one backup per attachment");

    // DEL runs tuning first (reverse order): the values come back while net1 still exists.
    tuning_verb(&lab, "DEL", p, rail_keys(), &result);
    let link = pod.require_link(IFNAME);
    assert_eq!(link.mtu(), 1500, "DEL restores the MTU: {}", link.raw);
    assert_eq!(pod.sysctl(ARP_IGNORE).unwrap(), "0", "DEL restores the sysctl");
    assert!(backups(&lab).is_empty(), "backup left: {:?}", backups(&lab));

    del_ok(&lab, p);
    assert_released(&lab, p);
    del_ok(&lab, p);
}

#[test]
fn runtime_mac_promisc_allmulti_and_txqlen_are_set_checked_and_restored() {
    let Some(mut lab) = lab() else { return };
    let p = lab.add_pod();
    let keys = json!({ "promisc": true, "allmulti": true, "txQLen": 77, "mac": "c2:00:00:00:00:01" });
    setup(&lab, keys.clone());
    let result = add_ok(&lab, p);
    let pod = lab.pod(p);
    let link = pod.require_link(IFNAME);
    assert!(link.promisc(), "{}", link.raw);
    assert!(link.has_flag("ALLMULTI"), "{}", link.raw);
    assert_eq!(link.raw["txqlen"], 77, "{}", link.raw);
    assert_eq!(link.mac(), "c2:00:00:00:00:01");
    assert_eq!(result["interfaces"][0]["mac"], "c2:00:00:00:00:01", "the result carries the new MAC");
    drive(&lab, "check", p).assert_ok();

    // CHECK compares every attribute.
    pod.ip(&["link", "set", IFNAME, "txqueuelen", "100"]).unwrap();
    drive(&lab, "check", p).assert_error_code(103);
    pod.ip(&["link", "set", IFNAME, "txqueuelen", "77"]).unwrap();

    tuning_verb(&lab, "DEL", p, keys, &result);
    let link = pod.require_link(IFNAME);
    assert!(!link.promisc() && !link.has_flag("ALLMULTI"), "{}", link.raw);
    assert_ne!(link.mac(), "c2:00:00:00:00:01", "DEL restores the MAC");
    del_ok(&lab, p);
    assert_released(&lab, p);
}

/// A config ADD must refuse with code 7 naming `key`, before it changes
/// anything (no sysctl, no backup); the chain's DEL, as a runtime runs it
/// after a failed ADD, then leaves nothing.
fn bad_config_is_code_7(case: BadKeys) {
    let Some(mut lab) = lab() else { return };
    let p = lab.add_pod();
    setup(&lab, (case.keys)());
    lab.assert_fails(&lab.call("add", p).ifname(IFNAME), 7, case.key);
    assert!(backups(&lab).is_empty(), "a refused ADD wrote a backup: {:?}", backups(&lab));
    assert_eq!(lab.pod(p).sysctl(ARP_IGNORE).ok().as_deref(), Some("0"), "a refused ADD wrote a sysctl");
    del_ok(&lab, p);
    assert_released(&lab, p);
}

testkit::table_tests!(bad_config_is_code_7 {
    non_net_sysctl_is_code_7: BadKeys { keys: || json!({ "sysctl": { "kernel.pid_max": "4096" } }), key: "sysctl" },
    unknown_sysctl_is_code_7: BadKeys {
        keys: || json!({ "sysctl": { "net.ipv4.conf.IFNAME.no_such_key": "1" } }),
        key: "sysctl.net.ipv4.conf.IFNAME.no_such_key"
    },
    same_sysctl_twice_is_code_7: BadKeys {
        keys: || json!({ "sysctl": { "net.ipv4.conf.IFNAME.arp_ignore": "1", "net/ipv4/conf/IFNAME/arp_ignore": "2" } }),
        key: "sysctl"
    },
    bad_mac_is_code_7: BadKeys { keys: || json!({ "mac": "not-a-mac" }), key: "mac" },
    bad_mtu_is_code_7: BadKeys { keys: || json!({ "mtu": -1 }), key: "mtu" },
    negative_txqlen_is_code_7: BadKeys { keys: || json!({ "txQLen": -1 }), key: "txQLen" },
    bad_args_mtu_is_code_7: BadKeys { keys: || json!({ "args": { "cni": { "mtu": 10 } } }), key: "args.cni.mtu" },
});

#[test]
fn del_with_the_netns_gone_removes_the_backup() {
    let Some(mut lab) = lab() else { return };
    let p = lab.add_pod();
    setup(&lab, rail_keys());
    add_ok(&lab, p);
    assert_eq!(backups(&lab).len(), 1);
    lab.pod(p).delete().unwrap();
    del_ok(&lab, p);
    assert!(backups(&lab).is_empty(), "backup left: {:?}", backups(&lab));
    del_ok(&lab, p);
}
