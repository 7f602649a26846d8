//! The loopback plugin as a runtime runs it, in fresh namespaces: through
//! libcni (the Go driver) alone and before railcni's bridge the way
//! containerd does it (loopback is its own network, `CNI_IFNAME=lo`, then
//! the pod's conflist), results in 0.4.0 and 1.0.0 (1.1.0 by direct exec:
//! Debian's libcni predates it), DEL with the netns gone, CHECK after lo was
//! set down, and the refusal of a non-loopback address on lo.
//!
//! Every pod's lo starts down, as in a netns a runtime just created:
//! bringing it up is the plugin's job. Needs root (SKIPPED otherwise).

use serde_json::{Value, json};
use testkit::binary::our_cni_path;
use testkit::driver::{Call, Lib};
use testkit::lab::Lab;
use testkit::netns::{have_ping, skip_without_root};
use testkit::{Binary, Invocation};

/// The driver's libcni (1.1.2) cannot parse 1.1.0 results.
const V: &str = "1.0.0";
/// What the kernel gives lo when it comes up.
const LO_ADDRS: [&str; 2] = ["127.0.0.1/8", "::1/128"];

/// A lab whose runtime finds our loopback, bridge and host-local, or
/// `None` (after printing SKIPPED) without root.
fn lab() -> Option<Lab> {
    if skip_without_root("the loopback tests") {
        return None;
    }
    Some(Lab::new(&our_cni_path(&["loopback", "bridge", "host-local"])))
}

/// A new pod whose lo is down.
fn fresh_pod(lab: &mut Lab) -> usize {
    let p = lab.add_pod();
    lab.pod(p).ip(&["link", "set", "lo", "down"]).expect("lo down");
    p
}

/// The loopback network, containerd's own: a conflist of loopback alone.
fn loopback_net(lab: &Lab, version: &str) -> String {
    let name = format!("{}-lo", lab.net);
    let list = json!({ "cniVersion": version, "name": name, "plugins": [{ "type": "loopback" }] });
    std::fs::write(lab.tmp().join("net.d").join(format!("{name}.conflist")), list.to_string()).expect("conflist");
    name
}

/// A driver call on network `net` for pod `p`'s `ifname`.
fn call(lab: &Lab, verb: &'static str, net: &str, p: usize, ifname: &str) -> Call {
    Call::new(verb, net, &lab.pod(p).path_str()).container_id(&lab.cid(p)).ifname(ifname)
}

fn lo_up(lab: &Lab, p: usize) -> bool {
    lab.pod(p).link("lo").is_some_and(|l| l.admin_up())
}

/// A loopback result in `version` for pod `p`: one interface, lo, in the
/// pod, and the kernel's addresses on it (IPv4 first), with `version` in
/// the 0.x layouts.
#[track_caller]
fn assert_lo_result(lab: &Lab, p: usize, version: &str, r: &Value) {
    assert_eq!(r["cniVersion"], version, "{r}");
    let sandbox = lab.pod(p).path_str();
    assert_eq!(r["interfaces"], json!([{ "name": "lo", "mac": "00:00:00:00:00:00", "sandbox": sandbox }]), "{r}");
    let ips = r["ips"].as_array().cloned().unwrap_or_default();
    let addrs: Vec<&str> = ips.iter().filter_map(|ip| ip["address"].as_str()).collect();
    assert_eq!(addrs, LO_ADDRS, "{r}");
    for ip in &ips {
        assert_eq!(ip["interface"], 0, "{r}");
        if version.starts_with("0.") {
            let want = if ip["address"].as_str().is_some_and(|a| a.contains(':')) { "6" } else { "4" };
            assert_eq!(ip["version"], want, "{r}");
        }
    }
    assert!(lo_up(lab, p), "lo is down after ADD\n{}", lab.pod(p).dump());
}

/// After DEL: lo down, and nothing in the pod but lo and the kernel's 127.0.0.1/8.
#[track_caller]
fn assert_lo_down(lab: &Lab, p: usize) {
    assert!(!lo_up(lab, p), "lo is still up after DEL\n{}", lab.pod(p).dump());
    let left = testkit::footprint::pod_leftovers(lab.pod(p));
    assert!(left.is_empty(), "left in the pod: {left:?}");
    let on_lo: Vec<String> = lab.pod(p).addrs(Some("lo")).into_iter().map(|a| a.cidr).collect();
    assert!(on_lo.iter().all(|a| a == "127.0.0.1/8"), "lo has {on_lo:?} after DEL");
}

/// ADD, CHECK, DEL, DEL of loopback alone through libcni, in 0.4.0 and
/// 1.0.0, with the runtime's `eth0`: lo is reported and brought up, the
/// result is cached and CHECKed, and DEL takes lo down again, twice.
#[test]
fn alone_through_libcni_add_check_del_del_in_0_4_0_and_1_0_0() {
    let Some(mut lab) = lab() else { return };
    for version in ["0.4.0", V] {
        let p = fresh_pod(&mut lab);
        let net = loopback_net(&lab, version);
        let out = lab.drive(&call(&lab, "add", &net, p, "eth0"));
        let result = out.assert_result(Lib::Libcni);
        assert_lo_result(&lab, p, version, &result);
        let cache = testkit::driver::cache_entry(&lab.cache_dir(), &net, &lab.cid(p), "eth0");
        assert!(cache.exists(), "{version}: libcni cached no result");
        lab.drive(&call(&lab, "check", &net, p, "eth0")).assert_ok();
        for _ in 0..2 {
            lab.drive(&call(&lab, "del", &net, p, "eth0")).assert_ok();
            assert_lo_down(&lab, p);
        }
        assert!(!cache.exists(), "{version}: libcni's cache entry is left after DEL");
    }
}

/// The pod as containerd sets it up: its loopback network (`lo`), then the
/// pod's conflist (railcni's bridge on `eth0`). Both work, lo answers, the
/// bridge's address is reachable, CHECK passes for both; DEL in reverse, twice,
/// releases eth0 and takes lo down.
#[test]
fn before_our_bridge_as_containerd_runs_a_pod() {
    let Some(mut lab) = lab() else { return };
    let p = fresh_pod(&mut lab);
    let lo_net = loopback_net(&lab, V);
    let ipam = lab.host_local(json!([[{ "subnet": "10.79.0.0/24" }]]));
    lab.write_conflist(&lab.conflist(V, vec![lab.bridge_plugin(json!({ "isGateway": true }), ipam)]));
    let lo = lab.drive(&call(&lab, "add", &lo_net, p, "lo")).assert_result(Lib::Libcni);
    assert_lo_result(&lab, p, V, &lo);
    let (eth0, _) = lab.add_ok(p, Lib::Libcni);
    assert!(lo_up(&lab, p), "the bridge's ADD took lo down");
    if have_ping() {
        lab.pod(p).ping("127.0.0.1").unwrap_or_else(|e| panic!("lo does not answer: {e}"));
        lab.pod(p).ping("10.79.0.1").unwrap_or_else(|e| panic!("the bridge's gateway does not answer: {e}"));
    }
    assert_eq!(eth0["interfaces"].as_array().map(Vec::len), Some(3), "bridge, veth, eth0: {eth0}");
    lab.drive(&call(&lab, "check", &lo_net, p, "lo")).assert_ok();
    lab.check_ok(p, Lib::Libcni);
    for _ in 0..2 {
        lab.del_ok(p, Lib::Libcni);
        lab.drive(&call(&lab, "del", &lo_net, p, "lo")).assert_ok();
        lab.assert_released(p);
        assert_lo_down(&lab, p);
    }
}

/// By direct exec (no runtime between): `CNI_IFNAME=lo` and `eth0` both
/// report lo; 1.1.0 results, GC and STATUS work, and the second ADD of the
/// same attachment succeeds with the same result (lo is only brought up again).
#[test]
fn direct_exec_ifname_lo_and_1_1_0() {
    let Some(mut lab) = lab() else { return };
    let p = fresh_pod(&mut lab);
    let plugin = Binary::ours("loopback");
    let conf = json!({ "cniVersion": "1.1.0", "name": lab.net, "type": "loopback" });
    let netns = lab.pod(p).path_str();
    let run = |verb: Invocation, ifname: &str| {
        lab.exec_plugin(&plugin, &verb.attachment(&lab.cid(p), ifname).set("CNI_NETNS", &netns).stdin_json(&conf))
    };
    let first = run(Invocation::add(), "lo").assert_ok_json();
    assert_lo_result(&lab, p, "1.1.0", &first);
    let again = run(Invocation::add(), "eth0").assert_ok_json();
    assert_eq!(again, first, "a second ADD, as eth0, reported otherwise");
    let check = Invocation::check().attachment(&lab.cid(p), "lo").set("CNI_NETNS", &netns);
    lab.exec_plugin(&plugin, &check.stdin_json(&testkit::conf::with_prev_result(&conf, &first))).assert_ok_silent();
    lab.exec_plugin(&plugin, &Invocation::status().stdin_json(&conf)).assert_ok_silent();
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([]);
    lab.exec_plugin(&plugin, &Invocation::gc().stdin_json(&gc)).assert_ok_silent();
    assert!(lo_up(&lab, p), "GC or STATUS changed lo");
    run(Invocation::del(), "lo").assert_ok();
    assert_lo_down(&lab, p);
}

/// The runtime lost the netns before DEL: DEL through libcni (the stale
/// path) and by direct exec with `CNI_NETNS=""` both succeed.
#[test]
fn del_after_the_netns_is_gone() {
    let Some(mut lab) = lab() else { return };
    let p = fresh_pod(&mut lab);
    let net = loopback_net(&lab, V);
    let result = lab.drive(&call(&lab, "add", &net, p, "lo")).assert_result(Lib::Libcni);
    lab.pod(p).delete().expect("ip netns del");
    lab.drive(&call(&lab, "del", &net, p, "lo")).assert_ok();
    let conf = json!({ "cniVersion": V, "name": net, "type": "loopback" });
    let out = lab.del_without_netns(&Binary::ours("loopback"), p, &conf, &result);
    out.assert_ok();
}

/// CHECK notices lo set down behind the runtime's back: code 103 ("the
/// container is not as ADD left it"), through libcni. DEL still works.
#[test]
fn check_is_103_after_lo_is_set_down() {
    let Some(mut lab) = lab() else { return };
    let p = fresh_pod(&mut lab);
    let net = loopback_net(&lab, V);
    lab.drive(&call(&lab, "add", &net, p, "lo")).assert_result(Lib::Libcni);
    lab.pod(p).ip(&["link", "set", "lo", "down"]).expect("lo down");
    let err = lab.drive(&call(&lab, "check", &net, p, "lo")).assert_error_code(103);
    assert!(err["msg"].as_str().is_some_and(|m| m.contains("down")), "{err}");
    lab.drive(&call(&lab, "del", &net, p, "lo")).assert_ok();
    assert_lo_down(&lab, p);
}

/// An address on lo that is not a loopback one (someone put it there):
/// ADD fails naming it, as the reference's does, and the runtime's DEL
/// that follows takes lo down and leaves the address alone (not ours).
#[test]
fn non_loopback_address_on_lo_is_refused() {
    let Some(mut lab) = lab() else { return };
    let p = fresh_pod(&mut lab);
    lab.pod(p).ip(&["addr", "add", "10.78.0.1/32", "dev", "lo"]).expect("address on lo");
    let net = loopback_net(&lab, V);
    let out = lab.drive(&call(&lab, "add", &net, p, "lo"));
    assert!(!out.success(), "ADD with 10.78.0.1 on lo succeeded\n{}", out.describe());
    assert!(out.stdout.contains("non-loopback address 10.78.0.1/32"), "{}", out.describe());
    lab.drive(&call(&lab, "del", &net, p, "lo")).assert_ok();
    assert!(!lo_up(&lab, p), "lo is up after DEL\n{}", lab.pod(p).dump());
    let on_lo: Vec<String> = lab.pod(p).addrs(Some("lo")).into_iter().map(|a| a.cidr).collect();
    assert!(on_lo.contains(&"10.78.0.1/32".to_string()), "DEL removed an address it did not add: {on_lo:?}");
}
