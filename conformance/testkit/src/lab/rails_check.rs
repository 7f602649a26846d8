//! The 8-rail checks of issue #6 §4, for any [`RailNode`]: macvlan rails on
//! the host kernel (`tests/rails.rs`) and SR-IOV VF rails in the VM stage
//! (`tests/sriov_rails.rs`) run the same scenarios.
//!
//! Rail *k* is `net<k>`; `policyRouting: {}` derives its table and rule
//! priority (1000 + *k*) from that name.

use crate::lab::rails::RailNode;
use serde_json::Value;

/// `policyRouting` with everything derived from the interface name.
pub fn policy() -> Value {
    serde_json::json!({})
}

/// ADD every rail at once (as a runtime may, and Multus-like tools do in
/// parallel); returns each rail's result.
pub fn add_all(node: &impl RailNode, version: &str, policy: &Value) -> Vec<Value> {
    let outs: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = node
            .rails()
            .iter()
            .map(|r| s.spawn(move || node.call("ADD", r.k, &node.rail_conf(version, r.k, policy))))
            .collect();
        handles.into_iter().map(|h| h.join().expect("ADD thread")).collect()
    });
    outs.iter().map(|o| o.assert_ok_json()).collect()
}

/// The pod's rules and links, for failure messages.
pub fn dump(node: &impl RailNode) -> String {
    let rules = node.pod().ip(&["rule"]).unwrap_or_default();
    format!("ip rule:\n{rules}\n{}", node.pod().dump())
}

/// Rail `k` routes and pings through its own interface and gateway.
#[track_caller]
pub fn assert_rail_works(node: &impl RailNode, k: u32) {
    let r = node.rail(k);
    let (dev, via) = node.route_get(k).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (dev.as_str(), via.as_str()),
        (r.ifname.as_str(), r.gw.as_str()),
        "route get for rail {k}\n{}",
        dump(node)
    );
    node.ping_remote(k).unwrap_or_else(|e| panic!("rail {k}: {e}\n{}", dump(node)));
}

/// ARP for rail k's address is answered on rail k and on no other rail.
#[track_caller]
pub fn assert_arp_only_on_own_rail(node: &impl RailNode) {
    let m = node.arp_matrix();
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

/// The pod's IPv4 rules other than local, main and default.
pub fn rail_rules(node: &impl RailNode) -> Vec<Value> {
    node.rules()
        .into_iter()
        .filter(|r| r["table"] != "local" && r["table"] != "main" && r["table"] != "default")
        .collect()
}

/// The whole 8-rail scenario with rails ADDed at once: each rail routes,
/// pings and answers ARP on its own; the results report the table routes;
/// the connected routes stay in main; CHECK passes, and fails naming a rule
/// deleted by hand; DEL of rail 3 leaves the others working; DEL of all
/// leaves no rule and no lease.
pub fn eight_rails(node: &impl RailNode, version: &str) {
    let n = node.rails().len() as u32;
    let p = policy();
    let results = add_all(node, version, &p);
    for k in 1..=n {
        assert_rail_works(node, k);
        // The result reports the rail's table routes (routes[].table).
        let table = 1000 + k as u64;
        let routes = results[k as usize - 1]["routes"].as_array().cloned().unwrap_or_default();
        assert!(
            routes.iter().any(|r| r["dst"] == "0.0.0.0/0" && r["table"] == table),
            "rail {k}: no default route in table {table}: {routes:?}"
        );
        // The connected route stays in main too.
        let main = node.pod().ip(&["route", "show", "table", "main", "dev", &node.rail(k).ifname]).unwrap();
        assert!(main.contains(&node.rail(k).subnet), "rail {k}: connected route left main: {main}");
    }
    assert_arp_only_on_own_rail(node);
    // What the README shows (visible with --nocapture).
    let show = |args: &[&str]| node.pod().ip(args).unwrap_or_else(|e| e);
    let r3 = node.rail(3);
    println!("$ ip rule\n{}", show(&["rule"]));
    println!("$ ip route show table 1003\n{}", show(&["route", "show", "table", "1003"]));
    println!("$ ip route show table main\n{}", show(&["route", "show", "table", "main"]));
    println!(
        "$ ip route get {} from {}\n{}",
        r3.remote,
        r3.addr,
        show(&["route", "get", &r3.remote, "from", &r3.addr])
    );
    assert_eq!(rail_rules(node).len(), n as usize, "one rule per rail:\n{}", dump(node));
    for k in 1..=n {
        let conf = node.rail_conf(version, k, &p);
        node.call_with_prev("CHECK", k, &conf, &results[k as usize - 1]).assert_ok();
    }
    // CHECK notices a rule deleted by hand, and names it.
    let conf3 = node.rail_conf(version, 3, &p);
    node.pod().ip(&["rule", "del", "from", &r3.addr, "table", "1003", "priority", "1003"]).unwrap();
    let err = node.call_with_prev("CHECK", 3, &conf3, &results[2]).assert_error(103);
    assert!(err.contains("1003") && err.contains(&r3.addr), "{err}");
    // ADD's rule again (as if re-added), then DEL rail 3: the others keep working.
    node.pod().ip(&["rule", "add", "from", &r3.addr, "table", "1003", "priority", "1003"]).unwrap();
    node.call_with_prev("DEL", 3, &conf3, &results[2]).assert_ok();
    assert_eq!(rail_rules(node).len(), n as usize - 1, "DEL of rail 3 took other rules:\n{}", dump(node));
    for k in (1..=n).filter(|k| *k != 3) {
        assert_rail_works(node, k);
    }
    // A second DEL is fine; DEL of the rest leaves no rule behind.
    node.call_with_prev("DEL", 3, &conf3, &results[2]).assert_ok();
    for k in (1..=n).filter(|k| *k != 3) {
        let conf = node.rail_conf(version, k, &p);
        node.call_with_prev("DEL", k, &conf, &results[k as usize - 1]).assert_ok();
    }
    assert!(rail_rules(node).is_empty(), "rules left after DEL:\n{}", dump(node));
    let v6 = node.pod().ip(&["-6", "rule"]).unwrap();
    assert_eq!(v6.lines().count(), 2, "IPv6 rules left:\n{v6}");
    assert!(node.leases().is_empty(), "leases left after DEL: {:?}", node.leases());
}

/// The control: the same rails without `policyRouting`, ADDed in order (so
/// which rail's route main keeps does not depend on timing). Only the first
/// rail's route to the remotes is in main, so every other rail's ping
/// leaves through rail 1 and is lost. Returns the ADD results.
pub fn without_policy_routing_the_rails_do_not_work(node: &impl RailNode, version: &str) -> Vec<Value> {
    let n = node.rails().len() as u32;
    let results: Vec<Value> =
        (1..=n).map(|k| node.call("ADD", k, &node.rail_conf(version, k, &Value::Null)).assert_ok_json()).collect();
    for k in 2..=n {
        assert!(node.ping_remote(k).is_err(), "rail {k} reached its peer without policy routing\n{}", dump(node));
        assert_eq!(node.route_get(k).unwrap().0, "net1", "rail {k}");
    }
    assert!(rail_rules(node).is_empty());
    results
}

/// Multus-style delegation: one libcni call per network, `CNI_IFNAME`
/// net1..netN, in order, with `oifRule`; CHECK and DEL through libcni
/// (cached prevResult). CHECK fails after an oif rule is deleted by hand.
pub fn eight_rails_through_libcni_delegation(node: &impl RailNode, version: &str) {
    let n = node.rails().len() as u32;
    node.write_rail_conflists(version, &serde_json::json!({ "oifRule": true }));
    for k in 1..=n {
        node.drive_rail("add", k).assert_ok();
    }
    for k in 1..=n {
        assert_rail_works(node, k);
        node.drive_rail("check", k).assert_ok();
    }
    // Two rules per rail: from <addr> and oif net<k>.
    assert_eq!(rail_rules(node).len(), 2 * n as usize, "{}", dump(node));
    node.pod().ip(&["rule", "del", "oif", "net6", "table", "1006", "priority", "1006"]).unwrap();
    node.drive_rail("check", 6).check_error_code(103).unwrap_or_else(|e| panic!("{e}"));
    for k in (1..=n).rev() {
        node.drive_rail("del", k).assert_ok();
    }
    assert!(rail_rules(node).is_empty(), "rules left after DEL:\n{}", dump(node));
    assert!(node.leases().is_empty(), "leases left after DEL: {:?}", node.leases());
}
