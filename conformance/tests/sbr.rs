//! The chained `sbr` plugin: differential against the reference (Debian
//! 1.1.1) on what a pod observes (`ip rule`, every routing table) after
//! ADD and after DEL, and railcni's additions: CHECK, DEL without the
//! interface or the netns, `table` mode with a priority, `addSourceHints`,
//! concurrent ADDs, the routes added to the passed-on result.
//!
//! The interface sbr is chained after is prepared with `ip` (a veth end in
//! the pod with IPv4 and IPv6 addresses and an extra route, as host-device
//! or a third-party plugin would leave it), with the matching prevResult.

use serde_json::{Value, json};
use testkit::Binary;
use testkit::binary::Invocation;
use testkit::lab::Lab;
use testkit::netns::{Namespace, skip_without_root};
use testkit::vs_reference::run_both;
use testkit::{Outcome, conf};

const V: &str = "1.0.0";
const CID: &str = "sbr-ctr";

/// Interface `net<n>` in pod 0: `10.8<n>.0.5/24` (gw .1), `fd8<n>::5/64`
/// (gw ::1), and `172.2<n>.0.0/16 via 10.8<n>.0.1`. Returns its prevResult.
fn prepare(lab: &Lab, n: u32) -> Value {
    let pod = lab.pod(0);
    let ifname = format!("net{n}");
    lab.host
        .ip(&["link", "add", &format!("h{n}"), "type", "veth", "peer", "name", &ifname, "netns", pod.name()])
        .unwrap();
    let (a4, a6) = (format!("10.8{n}.0.5/24"), format!("fd8{n}::5/64"));
    pod.ip(&["addr", "add", &a4, "dev", &ifname]).unwrap();
    pod.ip(&["addr", "add", &a6, "dev", &ifname, "nodad"]).unwrap();
    pod.ip(&["link", "set", &ifname, "up"]).unwrap();
    // Carrier: the link-local route appears, a generic route the reference copies into every table.
    lab.host.ip(&["link", "set", &format!("h{n}"), "up"]).unwrap();
    pod.ip(&["route", "add", &format!("172.2{n}.0.0/16"), "via", &format!("10.8{n}.0.1"), "dev", &ifname]).unwrap();
    json!({
        "cniVersion": V,
        "interfaces": [{ "name": ifname, "sandbox": pod.path_str() }],
        "ips": [
            { "interface": 0, "address": a4, "gateway": format!("10.8{n}.0.1") },
            { "interface": 0, "address": a6, "gateway": format!("fd8{n}::1") },
        ],
        "routes": [{ "dst": format!("172.2{n}.0.0/16"), "gw": format!("10.8{n}.0.1") }],
    })
}

fn sbr_conf(extra: Value) -> Value {
    let mut c = json!({ "cniVersion": V, "name": "sbrnet", "type": "sbr" });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        c[k] = v;
    }
    c
}

fn exec(lab: &Lab, plugin: &Binary, verb: &str, n: u32, conf: &Value, prev: &Value) -> Outcome {
    let inv = Invocation::attachment_verb(verb)
        .attachment(CID, &format!("net{n}"))
        .set("CNI_NETNS", &lab.pod(0).path_str())
        .stdin_json(&conf::with_prev_result(conf, prev));
    lab.exec_plugin(plugin, &inv)
}

/// What the pod shows: rules of both families and every table but local, sorted.
fn state(pod: &Namespace) -> Vec<String> {
    let mut lines = Vec::new();
    for fam in ["-4", "-6"] {
        for what in [vec!["rule", "show"], vec!["route", "show", "table", "all"]] {
            let mut args = vec![fam];
            args.extend(what);
            let out = pod.ip(&args).unwrap();
            lines.extend(out.lines().filter(|l| !l.contains("table local")).map(|l| format!("{fam} {}", l.trim())));
        }
    }
    lines.sort();
    lines
}

fn lab_with_pod(plugin: &Binary) -> Lab {
    let mut lab = Lab::new(&plugin.dir().display().to_string());
    lab.add_pod();
    lab
}

/// Two interfaces, sbr after each, then DEL of each: the same rules and
/// tables (100/101 for net1's two addresses, 102/103 for net2's) as the
/// reference at every step.
#[test]
fn same_rules_and_tables_as_the_reference() {
    let Some((theirs, ours)) = run_both("sbr", |plugin| {
        let lab = lab_with_pod(plugin);
        let (p1, p2) = (prepare(&lab, 1), prepare(&lab, 2));
        let conf = sbr_conf(json!({}));
        let mut steps = vec![("before", state(lab.pod(0)))];
        let r1 = exec(&lab, plugin, "ADD", 1, &conf, &p1);
        r1.assert_ok_json();
        steps.push(("ADD net1", state(lab.pod(0))));
        exec(&lab, plugin, "ADD", 2, &conf, &p2).assert_ok_json();
        steps.push(("ADD net2", state(lab.pod(0))));
        exec(&lab, plugin, "DEL", 1, &conf, &p1).assert_ok();
        steps.push(("DEL net1", state(lab.pod(0))));
        exec(&lab, plugin, "DEL", 2, &conf, &p2).assert_ok();
        steps.push(("DEL net2", state(lab.pod(0))));
        steps
    }) else {
        return;
    };
    for ((step, t), (_, o)) in theirs.iter().zip(&ours) {
        assert_eq!(t, o, "after {step}: reference (left) and railcni (right) differ");
    }
    let after_add = &ours[2].1;
    for want in ["-4 32765:\tfrom 10.81.0.5 lookup 100", "-6 32765:\tfrom fd81::5 lookup 101"] {
        assert!(after_add.iter().any(|l| l == want), "{want:?} not in {after_add:#?}");
    }
}

fn ours_lab() -> Option<(Lab, Binary)> {
    if skip_without_root("the sbr tests") {
        return None;
    }
    let plugin = Binary::ours("sbr");
    Some((lab_with_pod(&plugin), plugin))
}

fn rules_from(pod: &Namespace, addr: &str) -> Vec<String> {
    let fam = if addr.contains(':') { "-6" } else { "-4" };
    pod.ip(&[fam, "rule", "show"])
        .unwrap()
        .lines()
        .filter(|l| l.contains(&format!("from {addr} ")))
        .map(String::from)
        .collect()
}

/// The result (1.1.0, which has `routes[].table`) is prevResult with the
/// table routes added, CHECK verifies them and notices a rule deleted by
/// hand; DEL works after the interface is gone (prevResult names the
/// addresses) and when the netns is gone.
#[test]
fn result_check_and_robust_del() {
    let Some((lab, plugin)) = ours_lab() else { return };
    let mut prev = prepare(&lab, 1);
    prev["cniVersion"] = json!("1.1.0");
    let conf = sbr_conf(json!({ "cniVersion": "1.1.0" }));
    let result = exec(&lab, &plugin, "ADD", 1, &conf, &prev).assert_ok_json();
    let routes = result["routes"].as_array().cloned().unwrap_or_default();
    for (dst, table) in [("0.0.0.0/0", 100), ("::/0", 101), ("172.21.0.0/16", 100), ("10.81.0.0/24", 100)] {
        assert!(routes.iter().any(|r| r["dst"] == dst && r["table"] == table), "{dst} table {table}: {result}");
    }
    assert_eq!(result["ips"], prev["ips"]);
    exec(&lab, &plugin, "CHECK", 1, &conf, &result).assert_ok();
    lab.pod(0).ip(&["rule", "del", "from", "10.81.0.5", "lookup", "100"]).unwrap();
    let err = exec(&lab, &plugin, "CHECK", 1, &conf, &result).assert_error(103);
    assert!(err.contains("10.81.0.5"), "{err}");
    lab.pod(0).ip(&["link", "del", "net1"]).unwrap();
    exec(&lab, &plugin, "DEL", 1, &conf, &result).assert_ok();
    assert!(rules_from(lab.pod(0), "fd81::5").is_empty(), "DEL left the IPv6 rule");
    lab.pod(0).delete().unwrap();
    exec(&lab, &plugin, "DEL", 1, &conf, &result).assert_ok();
}

/// Below 1.1.0 a result cannot name a table: it lists only the routes that
/// stayed in main, so the CHECK of the plugin before sbr finds them there.
#[test]
fn old_results_list_only_routes_left_in_main() {
    let Some((lab, plugin)) = ours_lab() else { return };
    let prev = prepare(&lab, 1);
    let result = exec(&lab, &plugin, "ADD", 1, &sbr_conf(json!({})), &prev).assert_ok_json();
    assert_eq!(result["routes"], json!(null), "{result}");
    assert_eq!(result["ips"], prev["ips"]);
}

/// `table` adds only rules, at `priority` (railcni's key); DEL removes them.
#[test]
fn table_mode_with_priority() {
    let Some((lab, plugin)) = ours_lab() else { return };
    let prev = prepare(&lab, 1);
    let conf = sbr_conf(json!({ "table": 500, "priority": 900 }));
    let result = exec(&lab, &plugin, "ADD", 1, &conf, &prev).assert_ok_json();
    assert_eq!(result["routes"], prev["routes"]);
    assert_eq!(rules_from(lab.pod(0), "10.81.0.5"), ["900:\tfrom 10.81.0.5 lookup 500"]);
    assert_eq!(rules_from(lab.pod(0), "fd81::5"), ["900:\tfrom fd81::5 lookup 500"]);
    let main = lab.pod(0).ip(&["route", "show", "table", "main"]).unwrap();
    assert!(main.contains("172.21.0.0/16"), "table mode moved routes: {main}");
    exec(&lab, &plugin, "CHECK", 1, &conf, &result).assert_ok();
    exec(&lab, &plugin, "DEL", 1, &conf, &result).assert_ok();
    assert!(rules_from(lab.pod(0), "10.81.0.5").is_empty());
    assert!(rules_from(lab.pod(0), "fd81::5").is_empty());
}

/// `addSourceHints` keeps the subnet route in main, with the address as source.
#[test]
fn source_hints_keep_the_subnet_in_main() {
    let Some((lab, plugin)) = ours_lab() else { return };
    let prev = prepare(&lab, 1);
    let conf = sbr_conf(json!({ "addSourceHints": true }));
    exec(&lab, &plugin, "ADD", 1, &conf, &prev).assert_ok_json();
    let main = lab.pod(0).ip(&["route", "show", "table", "main"]).unwrap();
    assert!(main.contains("10.81.0.0/24 dev net1") && main.contains("src 10.81.0.5"), "{main}");
    assert!(!main.contains("172.21.0.0/16"), "the gateway route must leave main: {main}");
    let t100 = lab.pod(0).ip(&["route", "show", "table", "100"]).unwrap();
    assert!(t100.contains("default via 10.81.0.1") && t100.contains("172.21.0.0/16"), "{t100}");
}

/// sbr ADDs of two interfaces at once (the netns lock) get distinct tables.
#[test]
fn concurrent_adds_get_distinct_tables() {
    let Some((lab, plugin)) = ours_lab() else { return };
    let (p1, p2) = (prepare(&lab, 1), prepare(&lab, 2));
    let conf = sbr_conf(json!({}));
    std::thread::scope(|s| {
        let a = s.spawn(|| exec(&lab, &plugin, "ADD", 1, &conf, &p1));
        let b = s.spawn(|| exec(&lab, &plugin, "ADD", 2, &conf, &p2));
        a.join().unwrap().assert_ok_json();
        b.join().unwrap().assert_ok_json();
    });
    let rules = lab.pod(0).ip(&["-4", "rule", "show"]).unwrap() + &lab.pod(0).ip(&["-6", "rule", "show"]).unwrap();
    let mut tables: Vec<&str> = rules.lines().filter_map(|l| l.split("lookup ").nth(1)).collect();
    tables.retain(|t| t.parse::<u32>().is_ok());
    tables.sort();
    assert_eq!(tables, ["100", "101", "102", "103"], "{rules}");
}

/// Without prevResult, sbr is not chained: code 7 naming prevResult.
#[test]
fn unchained_is_an_error() {
    let Some((lab, plugin)) = ours_lab() else { return };
    prepare(&lab, 1);
    let inv = Invocation::add()
        .attachment(CID, "net1")
        .set("CNI_NETNS", &lab.pod(0).path_str())
        .stdin_json(&sbr_conf(json!({})));
    lab.exec_plugin(&plugin, &inv).assert_error_naming(7, &["prevResult"]);
}
