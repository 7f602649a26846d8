//! The firewall plugin end to end, chained after railcni's bridge, driven
//! by the Go runtime driver (libcni). A lab namespace plays the node with
//! two bridge networks: A (bridge + firewall, `ingressPolicy` as the test
//! says) and B (bridge + firewall, open). Needs root (SKIPPED otherwise),
//! `ip`, `ping` and `nft` (to read the rules back).

use serde_json::{Value, json};
use testkit::binary::our_cni_path;
use testkit::driver::{Call, DriverOut, Lib};
use testkit::lab::Lab;
use testkit::netns::skip_without_root;
use testkit::{Binary, Invocation};

const V: &str = "1.0.0";

struct Node {
    lab: Lab,
    net_b: String,
}

fn node(policy: &str) -> Option<Node> {
    if skip_without_root("the firewall tests") {
        return None;
    }
    let lab = Lab::new(&our_cni_path(&["bridge", "firewall", "host-local"]));
    lab.host.run(|| {
        for key in ["net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"] {
            std::fs::write(format!("/proc/sys/{key}"), "1").expect(key);
        }
    });
    let net_b = format!("{}b", lab.net);
    let bridge = |name: &str, subnet: &str| {
        let ipam = lab.host_local(json!([[{ "subnet": subnet }]]));
        let mut b = lab.bridge_plugin(json!({ "isDefaultGateway": true }), ipam);
        b["bridge"] = json!(name);
        b
    };
    let a = json!({ "type": "firewall", "ingressPolicy": policy });
    lab.write_conflist(&lab.conflist(V, vec![bridge(&lab.bridge, "10.78.0.0/24"), a]));
    let list_b = json!({ "cniVersion": V, "name": net_b, "plugins": [
        bridge(&format!("{}b", lab.bridge), "10.79.0.0/24"), { "type": "firewall" }
    ] });
    let path = lab.tmp().join("net.d").join(format!("{net_b}.conflist"));
    std::fs::write(path, list_b.to_string()).expect("write conflist B");
    Some(Node { lab, net_b })
}

impl Node {
    fn call(&self, verb: &'static str, p: usize, on_b: bool) -> DriverOut {
        let net = if on_b { &self.net_b } else { &self.lab.net };
        self.lab.drive(&Call::new(verb, net, &self.lab.pod(p).path_str()).container_id(&self.lab.cid(p)))
    }

    fn add(&self, p: usize, on_b: bool) -> String {
        let r = self.call("add", p, on_b).assert_result(Lib::Libcni);
        r["ips"][0]["address"].as_str().expect("an address").split('/').next().unwrap_or_default().to_string()
    }

    fn ruleset(&self) -> String {
        let out = self.lab.host.exec(&["nft", "list", "table", "inet", "cni_firewall"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn rules_of(&self, p: usize) -> usize {
        let id = format!("id: {}\"", self.lab.cid(p));
        self.ruleset().lines().filter(|l| l.contains(&id)).count()
    }

    fn reaches(&self, from: usize, to: &str) -> bool {
        self.lab.pod(from).ping_with(&["-W", "1"], to).is_ok()
    }

    fn exec(&self, inv: Invocation, stdin: &Value) -> testkit::Outcome {
        self.lab.exec_plugin(&Binary::ours("firewall"), &inv.stdin_json(stdin))
    }
}

#[test]
fn same_bridge_admits_its_bridge_and_blocks_another_and_del_removes_its_rules() {
    let Some(mut n) = node("same-bridge") else { return };
    let (p0, p1, p2) = (n.lab.add_pod(), n.lab.add_pod(), n.lab.add_pod());
    let a0 = n.add(p0, false);
    let a1 = n.add(p1, false);
    let b2 = n.add(p2, true);
    n.call("check", p0, false).assert_ok();
    // Two accepts and one isolation rule per address.
    assert_eq!(n.rules_of(p0), 3, "{}", n.ruleset());
    assert!(n.reaches(p1, &a0), "a pod on the same bridge is admitted\n{}", n.ruleset());
    assert!(!n.reaches(p2, &a0), "a pod on another bridge is blocked\n{}", n.ruleset());
    // The isolated pod may still open connections out, and get the replies.
    assert!(n.reaches(p0, &b2), "the isolated pod reaches the other bridge\n{}", n.ruleset());
    // B is open: A's pods reach it.
    assert!(n.reaches(p1, &b2));
    assert!(n.reaches(p0, &a1));

    n.call("del", p0, false).assert_ok();
    assert_eq!(n.rules_of(p0), 0, "rules left after DEL:\n{}", n.ruleset());
    assert!(n.rules_of(p1) > 0, "DEL touched another pod's rules:\n{}", n.ruleset());
    for (p, b) in [(p1, false), (p2, true)] {
        n.call("del", p, b).assert_ok();
        assert_eq!(n.rules_of(p), 0, "{}", n.ruleset());
    }
    assert_eq!(n.ruleset(), "", "table left after the last DEL");
    n.call("del", p0, false).assert_ok();
}

#[test]
fn open_policy_admits_other_bridges() {
    let Some(mut n) = node("open") else { return };
    let (p0, p2) = (n.lab.add_pod(), n.lab.add_pod());
    let a0 = n.add(p0, false);
    n.add(p2, true);
    assert_eq!(n.rules_of(p0), 2, "{}", n.ruleset());
    assert!(n.reaches(p2, &a0), "open: another bridge's pod is admitted\n{}", n.ruleset());
    n.call("del", p0, false).assert_ok();
    n.call("del", p2, true).assert_ok();
}

#[test]
fn del_without_prev_result_and_gc_find_rules_by_attachment() {
    let Some(mut n) = node("same-bridge") else { return };
    let (p0, p1) = (n.lab.add_pod(), n.lab.add_pod());
    n.add(p0, false);
    n.add(p1, false);
    let conf = n.lab.plugin_conf(V, json!({ "type": "firewall" }));
    let inv = Invocation::del().attachment(&n.lab.cid(p0), "eth0").set("CNI_NETNS", "");
    n.exec(inv, &conf).assert_ok_silent();
    assert_eq!(n.rules_of(p0), 0, "{}", n.ruleset());
    assert_eq!(n.rules_of(p1), 3, "{}", n.ruleset());
    // GC with an empty list collects p1's.
    let mut gc = n.lab.plugin_conf("1.1.0", json!({ "type": "firewall" }));
    gc["cni.dev/valid-attachments"] = json!([]);
    n.exec(Invocation::gc(), &gc).assert_ok_silent();
    assert_eq!(n.rules_of(p1), 0, "{}", n.ruleset());
    n.call("del", p0, false).assert_ok();
    n.call("del", p1, false).assert_ok();
}

#[test]
fn check_fails_when_a_rule_is_missing() {
    let Some(mut n) = node("open") else { return };
    let p = n.lab.add_pod();
    n.add(p, false);
    let conf = n.lab.plugin_conf(V, json!({ "type": "firewall" }));
    let inv = Invocation::del().attachment(&n.lab.cid(p), "eth0").set("CNI_NETNS", "");
    n.exec(inv, &conf).assert_ok_silent();
    n.call("check", p, false).assert_error_code(103);
    n.call("del", p, false).assert_ok();
}

/// Bad config: code 7 naming the key, and no rule installed.
fn bad(row: (Value, &str)) {
    let Some(mut n) = node("open") else { return };
    let p = n.lab.add_pod();
    let prev =
        json!({ "cniVersion": V, "interfaces": [{ "name": n.lab.bridge }], "ips": [{ "address": "10.78.0.9/24" }] });
    let mut keys = row.0;
    keys["type"] = json!("firewall");
    let mut conf = n.lab.plugin_conf(V, keys);
    conf["prevResult"] = prev;
    let inv = Invocation::add().attachment(&n.lab.cid(p), "eth0").set("CNI_NETNS", &n.lab.pod(p).path_str());
    n.exec(inv, &conf).check_error_naming(7, &[row.1]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(n.rules_of(p), 0, "{}", n.ruleset());
}

testkit::table_tests!(bad {
    unknown_ingress_policy_is_code_7: (json!({ "ingressPolicy": "closed" }), "ingressPolicy"),
    firewalld_backend_is_code_7: (json!({ "backend": "firewalld" }), "backend"),
    unknown_backend_is_code_7: (json!({ "backend": "pf" }), "backend"),
});

#[test]
fn same_bridge_without_a_bridge_in_prev_result_is_code_7() {
    let Some(mut n) = node("open") else { return };
    let p = n.lab.add_pod();
    let prev = json!({ "cniVersion": V, "ips": [{ "address": "10.78.0.9/24" }] });
    let mut conf = n.lab.plugin_conf(V, json!({ "type": "firewall", "ingressPolicy": "same-bridge" }));
    conf["prevResult"] = prev;
    let inv = Invocation::add().attachment(&n.lab.cid(p), "eth0").set("CNI_NETNS", &n.lab.pod(p).path_str());
    n.exec(inv, &conf).check_error_naming(7, &["ingressPolicy"]).unwrap_or_else(|e| panic!("{e}"));
}

/// Pods coming and going at once: every ADD finds its rules, even while
/// another attachment's DEL removes the table it thinks is unused.
#[test]
fn concurrent_adds_and_dels_keep_every_attachments_rules() {
    let Some(n) = node("same-bridge") else { return };
    let failures: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..6)
            .map(|k| {
                let n = &n;
                s.spawn(move || {
                    let cid = format!("{}-race{k}", n.lab.prefix);
                    let mut conf = n.lab.plugin_conf(V, json!({ "type": "firewall", "ingressPolicy": "same-bridge" }));
                    conf["prevResult"] = json!({ "cniVersion": V,
                        "interfaces": [{ "name": n.lab.bridge }, { "name": "eth0", "sandbox": format!("/run/netns/x{k}") }],
                        "ips": [{ "interface": 1, "address": format!("10.78.0.{}/24", 10 + k) }] });
                    let mut bad = Vec::new();
                    for round in 0..8 {
                        let inv = Invocation::add().attachment(&cid, "eth0").set("CNI_NETNS", "/run/netns/x");
                        if let Err(e) = n.exec(inv, &conf).check_ok_json() {
                            bad.push(format!("{cid} round {round} ADD: {e}"));
                            continue;
                        }
                        let ruleset = n.ruleset();
                        let mine = ruleset.lines().filter(|l| l.contains(&format!("id: {cid}\""))).count();
                        if mine != 3 || !ruleset.contains("jump pods") {
                            bad.push(format!("{cid} round {round}: {mine} rules after ADD:\n{ruleset}"));
                        }
                        let inv = Invocation::del().attachment(&cid, "eth0").set("CNI_NETNS", "");
                        if let Err(e) = n.exec(inv, &conf).check_ok() {
                            bad.push(format!("{cid} round {round} DEL: {e}"));
                        }
                    }
                    bad
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("worker")).collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(n.ruleset(), "", "table left after the last DEL");
}
