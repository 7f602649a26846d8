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

use conformance::Plugin;
use conformance::driver::Call;
use conformance::netns::{have_ping, skip_without_root};
use conformance::plugin::our_cni_path;
use conformance::rails_lab::{POD, RailsLab, Subnets};
use serde_json::{Value, json};

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

/// `policyRouting` with everything derived from the interface name.
fn policy() -> Value {
    json!({})
}

/// ADD every rail at once (as a runtime may, and Multus-like tools do in
/// parallel); returns each rail's result.
fn add_all(lab: &RailsLab, plugin: &Plugin, policy: &Value) -> Vec<Value> {
    let outs: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> =
            (1..=RAILS).map(|k| s.spawn(move || lab.exec(plugin, "ADD", k, &lab.conf(V, k, policy)))).collect();
        handles.into_iter().map(|h| h.join().expect("ADD thread")).collect()
    });
    outs.iter().map(|o| o.assert_ok_json()).collect()
}

/// Rail `k` routes and pings through its own interface and gateway.
#[track_caller]
fn assert_rail_works(lab: &RailsLab, k: u32) {
    let r = lab.rail(k);
    let (dev, via) = lab.route_get(k).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (dev.as_str(), via.as_str()),
        (r.ifname.as_str(), r.gw.as_str()),
        "route get for rail {k}\n{}",
        dump(lab)
    );
    lab.ping_remote(k).unwrap_or_else(|e| panic!("rail {k}: {e}\n{}", dump(lab)));
}

fn dump(lab: &RailsLab) -> String {
    let rules = lab.pod().ip(&["rule"]).unwrap_or_default();
    format!("ip rule:\n{rules}\n{}", lab.pod().dump())
}

/// ARP for rail k's address is answered on rail k and on no other rail.
#[track_caller]
fn assert_arp_only_on_own_rail(lab: &RailsLab) {
    let m = lab.arp_matrix();
    for (j, row) in m.iter().enumerate() {
        for (k, answered) in row.iter().enumerate() {
            assert_eq!(
                *answered,
                j == k,
                "ARP on rail {} for rail {}'s address: answered={answered}\n{m:?}",
                j + 1,
                k + 1
            );
        }
    }
}

fn rail_rules(lab: &RailsLab) -> Vec<Value> {
    lab.rules()
        .into_iter()
        .filter(|r| r["table"] != "local" && r["table"] != "main" && r["table"] != "default")
        .collect()
}

fn eight_rails(subnets: Subnets) {
    let Some(lab) = lab(subnets) else { return };
    let plugin = Plugin::ours("macvlan");
    let p = policy();
    let results = add_all(&lab, &plugin, &p);
    for k in 1..=RAILS {
        assert_rail_works(&lab, k);
        // The result reports the rail's table routes (routes[].table).
        let table = 1000 + k as u64;
        let routes = results[k as usize - 1]["routes"].as_array().cloned().unwrap_or_default();
        assert!(
            routes.iter().any(|r| r["dst"] == "0.0.0.0/0" && r["table"] == table),
            "rail {k}: no default route in table {table}: {routes:?}"
        );
        // The connected route stays in main too.
        let main = lab.pod().ip(&["route", "show", "table", "main", "dev", &lab.rail(k).ifname]).unwrap();
        assert!(main.contains(&lab.rail(k).subnet), "rail {k}: connected route left main: {main}");
    }
    assert_arp_only_on_own_rail(&lab);
    // What the README shows (visible with --nocapture).
    let show = |args: &[&str]| lab.pod().ip(args).unwrap_or_else(|e| e);
    println!("$ ip rule\n{}", show(&["rule"]));
    println!("$ ip route show table 1003\n{}", show(&["route", "show", "table", "1003"]));
    println!("$ ip route show table main\n{}", show(&["route", "show", "table", "main"]));
    println!(
        "$ ip route get {} from {}\n{}",
        lab.rail(3).remote,
        lab.rail(3).addr,
        show(&["route", "get", &lab.rail(3).remote, "from", &lab.rail(3).addr])
    );
    assert_eq!(rail_rules(&lab).len(), RAILS as usize, "one rule per rail:\n{}", dump(&lab));
    for k in 1..=RAILS {
        let conf = lab.conf(V, k, &p);
        lab.exec_with_prev(&plugin, "CHECK", k, &conf, &results[k as usize - 1]).assert_ok();
    }
    // CHECK notices a rule deleted by hand, and names it.
    let r3 = lab.rail(3);
    lab.pod().ip(&["rule", "del", "from", &r3.addr, "table", "1003", "priority", "1003"]).unwrap();
    let err = lab.exec_with_prev(&plugin, "CHECK", 3, &lab.conf(V, 3, &p), &results[2]).assert_error(103);
    assert!(err.contains("1003") && err.contains(&r3.addr), "{err}");
    // ADD's rule again (as if re-added), then DEL rail 3: the other 7 keep working.
    lab.pod().ip(&["rule", "add", "from", &r3.addr, "table", "1003", "priority", "1003"]).unwrap();
    lab.exec_with_prev(&plugin, "DEL", 3, &lab.conf(V, 3, &p), &results[2]).assert_ok();
    assert_eq!(rail_rules(&lab).len(), RAILS as usize - 1, "DEL of rail 3 took other rules:\n{}", dump(&lab));
    for k in (1..=RAILS).filter(|k| *k != 3) {
        assert_rail_works(&lab, k);
    }
    // A second DEL is fine; DEL of the rest leaves no rule behind.
    lab.exec_with_prev(&plugin, "DEL", 3, &lab.conf(V, 3, &p), &results[2]).assert_ok();
    for k in (1..=RAILS).filter(|k| *k != 3) {
        lab.exec_with_prev(&plugin, "DEL", k, &lab.conf(V, k, &p), &results[k as usize - 1]).assert_ok();
    }
    assert!(rail_rules(&lab).is_empty(), "rules left after DEL:\n{}", dump(&lab));
    let v6 = lab.pod().ip(&["-6", "rule"]).unwrap();
    assert_eq!(v6.lines().count(), 2, "IPv6 rules left:\n{v6}");
    assert!(lab.held_by(POD).is_empty());
}

#[test]
fn eight_rails_distinct_subnets() {
    eight_rails(Subnets::Distinct);
}

#[test]
fn eight_rails_one_shared_subnet() {
    eight_rails(Subnets::Shared);
}

/// The control: the same rails without `policyRouting`. Only the first
/// rail's route to the remotes is in main, so every other rail's ping leaves
/// through rail 1 and is lost.
#[test]
fn without_policy_routing_the_rails_do_not_work() {
    for subnets in [Subnets::Distinct, Subnets::Shared] {
        let Some(lab) = lab(subnets) else { return };
        let plugin = Plugin::ours("macvlan");
        // Sequential: which rail's route main keeps must not depend on timing.
        for k in 1..=RAILS {
            lab.exec(&plugin, "ADD", k, &lab.conf(V, k, &Value::Null)).assert_ok_json();
        }
        for k in 2..=RAILS {
            assert!(lab.ping_remote(k).is_err(), "{subnets:?}: rail {k} reached its peer without policy routing");
            assert_eq!(lab.route_get(k).unwrap().0, "net1", "{subnets:?}: rail {k}");
        }
        assert!(rail_rules(&lab).is_empty());
    }
}

/// DEL finds this rail's rules when the interface is already gone (and no
/// prevResult says what its addresses were), and leaves every other rail's.
#[test]
fn del_after_the_interface_is_gone_removes_only_its_rules() {
    let Some(lab) = lab(Subnets::Distinct) else { return };
    let plugin = Plugin::ours("macvlan");
    let p = policy();
    add_all(&lab, &plugin, &p);
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
    let plugin = Plugin::ours("macvlan");
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
    let p = json!({ "oifRule": true });
    lab.write_conflists(V, &p);
    let call = |verb, k: u32| {
        Call::new(verb, &lab.rail(k).net, &lab.pod().path_str()).container_id(&lab.cid(POD)).ifname(&lab.rail(k).ifname)
    };
    for k in 1..=RAILS {
        lab.drive(&call("add", k)).assert_ok();
    }
    for k in 1..=RAILS {
        assert_rail_works(&lab, k);
        lab.drive(&call("check", k)).assert_ok();
    }
    // Two rules per rail: from <addr> and oif net<k>.
    assert_eq!(rail_rules(&lab).len(), 2 * RAILS as usize, "{}", dump(&lab));
    lab.pod().ip(&["rule", "del", "oif", "net6", "table", "1006", "priority", "1006"]).unwrap();
    lab.drive(&call("check", 6)).check_error_code(103).unwrap_or_else(|e| panic!("{e}"));
    for k in (1..=RAILS).rev() {
        lab.drive(&call("del", k)).assert_ok();
    }
    assert!(rail_rules(&lab).is_empty(), "rules left after DEL:\n{}", dump(&lab));
}

/// The sysctls of the RDMA preset are on every rail, written after the move
/// into the pod (which resets them); `conf/all/rp_filter` cannot override.
#[test]
fn rdma_sysctls_are_set_and_overridable() {
    let Some(lab) = lab(Subnets::Distinct) else { return };
    let plugin = Plugin::ours("macvlan");
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
    let plugin = Plugin::ours("macvlan");
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
    let mut lab = conformance::lab::Lab::ours("bridge");
    lab.add_pod();
    let ipam = lab.host_local(json!([
        [{ "subnet": "10.72.0.0/24", "gateway": "10.72.0.1" }],
        [{ "subnet": "fd72::/64", "gateway": "fd72::1" }],
    ]));
    // 1.1.0, the version that has routes[].table.
    let conf = lab.plugin_conf("1.1.0", lab.bridge_plugin(json!({ "isGateway": true, "policyRouting": {} }), ipam));
    let plugin = Plugin::ours("bridge");
    let exec = |verb: &str, stdin: &Value| {
        let inv = conformance::plugin::Invocation::attachment_verb(verb)
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
    exec("CHECK", &conformance::conf::with_prev_result(&conf, &result)).assert_ok();
    pod.ip(&["-6", "route", "del", "default", "table", "1002"]).unwrap();
    let err = exec("CHECK", &conformance::conf::with_prev_result(&conf, &result)).assert_error(103);
    assert!(err.contains("::/0"), "{err}");
    exec("DEL", &conformance::conf::with_prev_result(&conf, &result)).assert_ok();
    assert_eq!(pod.ip(&["-4", "rule"]).unwrap().lines().count(), 3);
    assert_eq!(pod.ip(&["-6", "rule"]).unwrap().lines().count(), 2);
}
