//! Per-rail policy routing (`policyRouting`) end to end: one pod, 8 rails
//! (macvlan on 8 host-side veth parents in a private "host" namespace), one
//! network per rail, `CNI_IFNAME` net1..net8 as Multus names them. Each
//! rail's peer namespace owns an address that only that rail reaches.
//!
//! Per rail: `ip route get` from the rail's address picks its interface and
//! gateway, a ping sourced from it reaches the rail's peer, ARP for it is
//! answered on that rail only. Without policy routing the pings fail, so the
//! test proves what it claims. DEL of one rail leaves the others working,
//! DEL of all leaves no rule, CHECK notices a rule deleted by hand. Run with
//! 8 distinct subnets and with one subnet shared by all rails, exec'd
//! directly (ADDs concurrent) and through the libcni driver.

use serde_json::{Value, json};
use testkit::Binary;
use testkit::binary::our_cni_path;
use testkit::lab::rails::{POD, RailsLab, Subnets};
use testkit::lab::rails_check::{self, add_all, dump, policy, rail_rules};
use testkit::netns::{have_ping, skip_without_root};

const V: &str = "1.0.0";
const RAILS: u32 = 8;

fn lab(subnets: Subnets) -> Option<RailsLab> {
    if skip_without_root("the rails tests") {
        return None;
    }
    if !have_ping() {
        eprintln!("SKIPPED: the rails tests need ping (iputils-ping)");
        return None;
    }
    Some(RailsLab::new(&our_cni_path(&["macvlan", "host-local"]), RAILS, subnets))
}

#[test]
fn eight_rails_distinct_subnets() {
    let Some(lab) = lab(Subnets::Distinct) else { return };
    rails_check::eight_rails(&lab, V);
}

#[test]
fn eight_rails_one_shared_subnet() {
    let Some(lab) = lab(Subnets::Shared) else { return };
    rails_check::eight_rails(&lab, V);
}

/// The control: the same rails without `policyRouting` do not work.
#[test]
fn without_policy_routing_the_rails_do_not_work() {
    for subnets in [Subnets::Distinct, Subnets::Shared] {
        let Some(lab) = lab(subnets) else { return };
        rails_check::without_policy_routing_the_rails_do_not_work(&lab, V);
    }
}

/// DEL finds this rail's rules when the interface is already gone (and no
/// prevResult says what its addresses were), and leaves every other rail's.
#[test]
fn del_after_the_interface_is_gone_removes_only_its_rules() {
    let Some(lab) = lab(Subnets::Distinct) else { return };
    let plugin = Binary::ours("macvlan");
    let p = policy();
    add_all(&lab, V, &p);
    lab.pod().ip(&["link", "del", "net5"]).unwrap();
    lab.exec(&plugin, "DEL", 5, &lab.conf(V, 5, &p)).assert_ok();
    let left = rail_rules(&lab);
    assert_eq!(left.len(), RAILS as usize - 1, "{left:?}");
    assert!(!left.iter().any(|r| r["table"] == "1005"), "{left:?}");
    // And DEL succeeds once the netns itself is gone (the rules went with it).
    lab.pod().delete().unwrap();
    lab.exec(&plugin, "DEL", 1, &lab.conf(V, 1, &p)).assert_ok();
}

/// An ADD that fails in the policy step (a configured gateway the rail
/// cannot reach) leaves nothing: no link, no rule, no table route, no lease.
#[test]
fn failed_policy_step_rolls_back() {
    let Some(lab) = lab(Subnets::Distinct) else { return };
    let plugin = Binary::ours("macvlan");
    let block = json!({ "gateways": ["10.99.99.1"] });
    lab.exec(&plugin, "ADD", 2, &lab.conf(V, 2, &block)).assert_error_naming(7, &["policyRouting.gateways"]);
    assert!(lab.pod().link("net2").is_none(), "{}", dump(&lab));
    assert!(rail_rules(&lab).is_empty(), "{}", dump(&lab));
    assert_eq!(lab.pod().ip(&["route", "show", "table", "1002"]).unwrap_or_default(), "");
    assert!(lab.held_by(POD).is_empty());
}

/// Multus-style delegation: one libcni call per network, `CNI_IFNAME`
/// net1..net8, in order; CHECK and DEL through libcni (cached prevResult).
#[test]
fn eight_rails_through_libcni_delegation() {
    let Some(lab) = lab(Subnets::Distinct) else { return };
    rails_check::eight_rails_through_libcni_delegation(&lab, V);
}

/// The sysctls of the RDMA preset are on every rail, written after the move
/// into the pod (which resets them); `conf/all/rp_filter` cannot override.
#[test]
fn rdma_sysctls_are_set_and_overridable() {
    let Some(lab) = lab(Subnets::Distinct) else { return };
    let plugin = Binary::ours("macvlan");
    lab.pod().ip(&["link", "set", "lo", "up"]).unwrap();
    let raise = lab.pod().exec(&["sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/all/rp_filter"]);
    assert!(raise.status.success());
    lab.exec(&plugin, "ADD", 1, &lab.conf(V, 1, &policy())).assert_ok_json();
    lab.exec(&plugin, "ADD", 2, &lab.conf(V, 2, &json!({ "arpIgnore": 2, "rpFilter": 0 }))).assert_ok_json();
    let get = |k: &str| lab.pod().sysctl(k).unwrap();
    assert_eq!(get("net.ipv4.conf.net1.arp_ignore"), "1");
    assert_eq!(get("net.ipv4.conf.net1.arp_announce"), "2");
    assert_eq!(get("net.ipv4.conf.net1.rp_filter"), "2");
    assert_eq!(get("net.ipv4.conf.net1.arp_notify"), "1");
    assert_eq!(get("net.ipv4.conf.net2.arp_ignore"), "2");
    assert_eq!(get("net.ipv4.conf.net2.rp_filter"), "0");
    assert_eq!(get("net.ipv4.conf.all.rp_filter"), "0", "all must not override the rails' values");
}

/// Bad `policyRouting` values are code 7 naming the key, with nothing left behind.
#[test]
fn bad_policy_is_rejected_before_anything_is_made() {
    let Some(lab) = lab(Subnets::Distinct) else { return };
    let plugin = Binary::ours("macvlan");
    for (block, key) in [
        (json!({ "table": 254 }), "policyRouting.table"),
        (json!({ "rail": 1, "priority": 40000 }), "policyRouting.priority"),
        (json!({ "rail": 1, "RPFILTER": 7 }), "policyRouting.rpFilter"),
    ] {
        lab.exec(&plugin, "ADD", 1, &lab.conf(V, 1, &block)).assert_error_naming(7, &[key]);
    }
    assert!(lab.pod().link("net1").is_none());
    assert!(lab.held_by(POD).is_empty());
}

/// bridge gets the same block from the shared steps, and IPv6 is routed
/// like IPv4: rules `from <addr>/128`, the v6 subnet and default in the
/// table. CHECK passes, DEL removes both families' rules.
#[test]
fn bridge_dual_stack_policy_routing() {
    if skip_without_root("the rails tests") {
        return;
    }
    let mut lab = testkit::lab::Lab::ours("bridge");
    lab.add_pod();
    let ipam = lab.host_local(json!([
        [{ "subnet": "10.72.0.0/24", "gateway": "10.72.0.1" }],
        [{ "subnet": "fd72::/64", "gateway": "fd72::1" }],
    ]));
    // 1.1.0, the version that has routes[].table.
    let conf = lab.plugin_conf("1.1.0", lab.bridge_plugin(json!({ "isGateway": true, "policyRouting": {} }), ipam));
    let plugin = Binary::ours("bridge");
    let exec = |verb: &str, stdin: &Value| {
        let inv = testkit::binary::Invocation::attachment_verb(verb)
            .attachment(&lab.cid(0), "net2")
            .set("CNI_NETNS", &lab.pod(0).path_str())
            .stdin_json(stdin);
        lab.exec_plugin(&plugin, &inv)
    };
    let result = exec("ADD", &conf).assert_ok_json();
    let routes = result["routes"].as_array().cloned().unwrap_or_default();
    for (dst, gw) in [("0.0.0.0/0", json!("10.72.0.1")), ("::/0", json!("fd72::1")), ("fd72::/64", Value::Null)] {
        assert!(
            routes
                .iter()
                .any(|r| r["dst"] == dst && r["table"] == 1002 && r.get("gw").cloned().unwrap_or(Value::Null) == gw),
            "{dst} in table 1002: {result}"
        );
    }
    let pod = lab.pod(0);
    let v4 = pod.ip(&["-4", "rule"]).unwrap();
    let v6 = pod.ip(&["-6", "rule"]).unwrap();
    assert!(v4.contains("1002:\tfrom 10.72.0.2 lookup 1002"), "{v4}");
    assert!(v6.contains("1002:\tfrom fd72::2 lookup 1002"), "{v6}");
    let t6 = pod.ip(&["-6", "route", "show", "table", "1002"]).unwrap();
    assert!(t6.contains("default via fd72::1 dev net2") && t6.contains("fd72::/64 dev net2"), "{t6}");
    let t4 = pod.ip(&["-4", "route", "show", "table", "1002"]).unwrap();
    assert!(t4.contains("default via 10.72.0.1 dev net2") && t4.contains("src 10.72.0.2"), "{t4}");
    let got = pod.ip(&["route", "get", "10.99.0.1", "from", "10.72.0.2"]).unwrap();
    assert!(got.contains("dev net2") && got.contains("table 1002"), "{got}");
    exec("CHECK", &testkit::conf::with_prev_result(&conf, &result)).assert_ok();
    pod.ip(&["-6", "route", "del", "default", "table", "1002"]).unwrap();
    let err = exec("CHECK", &testkit::conf::with_prev_result(&conf, &result)).assert_error(103);
    assert!(err.contains("::/0"), "{err}");
    exec("DEL", &testkit::conf::with_prev_result(&conf, &result)).assert_ok();
    assert_eq!(pod.ip(&["-4", "rule"]).unwrap().lines().count(), 3);
    assert_eq!(pod.ip(&["-6", "rule"]).unwrap().lines().count(), 2);
}
