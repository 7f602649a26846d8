//! Hostile input to the interface plugins: crafted names, huge inputs, NUL
//! bytes, out-of-range numbers, a `CNI_NETNS` that is not a pod's network
//! namespace, a master that cannot be one. Each gets a clean CNI error (or,
//! where the input is merely large, a correct result) and leaves the host as
//! it was. And what is not ours is never touched: a host interface that only
//! has the expected name, another network's reservations.

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use testkit::binary::our_cni_path;
use testkit::footprint::{host_facts, pod_leftovers, store_leftovers};
use testkit::lab::Lab;
use testkit::lab::macvlan::MacvlanLab;
use testkit::netns::skip_without_root;
use testkit::{Binary, DataDir, Invocation, Outcome, conf, unique_name};

const V: &str = "1.0.0";

fn skip() -> bool {
    skip_without_root("the hostile-input tests")
}

/// A lab with both plugins' configs, and the host as it was before anything ran.
struct Node {
    lab: Lab,
    bridge: Value,
    macvlan: Value,
    baseline: Vec<String>,
}

impl Node {
    fn new() -> Node {
        let ml = MacvlanLab::new(&our_cni_path(&["bridge", "macvlan", "host-local"]));
        let ipam = ml.host_local(json!([[{ "subnet": "10.96.0.0/24" }]]));
        let macvlan = ml.plugin_conf(V, ml.macvlan_plugin(json!({}), ipam.clone()));
        let bridge = ml.plugin_conf(V, ml.bridge_plugin(json!({ "isGateway": true }), ipam));
        let mut lab = ml.into_lab();
        lab.add_pod();
        let baseline = host_facts(&lab.host, &[&lab.bridge]);
        Node { lab, bridge, macvlan, baseline }
    }

    fn run(&self, plugin: &str, inv: Invocation) -> Outcome {
        let inv = inv.set("CNI_NETNS", &self.lab.pod(0).path_str()).timeout(Duration::from_secs(30));
        self.lab.exec_plugin(&Binary::ours(plugin), &inv)
    }

    /// `out` is a CNI error with `code` naming `field`, and the node is untouched.
    #[track_caller]
    fn refused(&self, what: &str, out: &Outcome, code: u64, field: &str) -> Result<(), String> {
        let msg = out.check_error_naming(code, &[field]).map_err(|e| format!("{what}: {e}"))?;
        self.untouched(what).map_err(|e| format!("{e} (error was: {msg})"))
    }

    fn untouched(&self, what: &str) -> Result<(), String> {
        // The bridge is created before IPAM runs and outlives a failed ADD, as the reference's does.
        let host = host_facts(&self.lab.host, &[&self.lab.bridge]);
        let pod = pod_leftovers(self.lab.pod(0));
        let store = store_leftovers(&self.lab.ipam_dir().join(&self.lab.net));
        if host != self.baseline || !pod.is_empty() || !store.is_empty() {
            let extra: Vec<&String> = host.iter().filter(|f| !self.baseline.contains(f)).collect();
            return Err(format!("{what}: host changed {extra:?}, pod {pod:?}, store {store:?}"));
        }
        Ok(())
    }
}

fn add(conf: &Value) -> Invocation {
    Invocation::add().attachment("hostile", "eth0").stdin_json(conf)
}

fn collect(failures: &mut Vec<String>, r: Result<(), String>) {
    if let Err(e) = r {
        failures.push(e);
    }
}

#[test]
fn crafted_names_and_values_get_clean_errors_and_change_nothing() {
    if skip() {
        return;
    }
    let node = Node::new();
    let mut failures = Vec::new();
    for plugin in ["bridge", "macvlan"] {
        let c = if plugin == "bridge" { &node.bridge } else { &node.macvlan };
        let cases: Vec<(&str, Invocation, u64, &str)> = vec![
            ("ifname ../x", add(c).set("CNI_IFNAME", "../x"), 4, "CNI_IFNAME"),
            ("ifname ..", add(c).set("CNI_IFNAME", ".."), 4, "CNI_IFNAME"),
            ("container ID ../../etc", add(c).set("CNI_CONTAINERID", "../../etc"), 4, "CNI_CONTAINERID"),
            ("network name ../../x", add(&conf::with(c, "name", json!("../../x"))), 7, "name"),
            ("network name with NUL", add(&conf::with(c, "name", json!("a\u{0}b"))), 7, "name"),
            ("dataDir with NUL", add(&conf::with(c, "ipam.dataDir", json!("/tmp/a\u{0}b"))), 5, "dataDir"),
            ("mtu out of range", add(&conf::with(c, "mtu", json!(99_999_999_999u64))), 7, "mtu"),
            ("mtu negative", add(&conf::with(c, "mtu", json!(-1))), 7, "mtu"),
            (
                "subnet prefix 99",
                add(&conf::with(c, "ipam.ranges", json!([[{"subnet": "10.96.0.0/99"}]]))),
                7,
                "subnet",
            ),
        ];
        for (what, inv, code, field) in cases {
            let out = node.run(plugin, inv);
            collect(&mut failures, node.refused(&format!("{plugin}: {what}"), &out, code, field));
        }
    }
    let b = &node.bridge;
    let bridge_cases: Vec<(&str, Value, u64, &str)> = vec![
        ("bridge name ../../kernel", conf::with(b, "bridge", json!("../../kernel")), 7, "bridge"),
        ("bridge name with NUL", conf::with(b, "bridge", json!("br\u{0}x")), 7, "bridge"),
        ("vlan 5000", conf::with(b, "vlan", json!(5000)), 7, "vlan"),
    ];
    for (what, c, code, field) in bridge_cases {
        let out = node.run("bridge", add(&c));
        collect(&mut failures, node.refused(&format!("bridge: {what}"), &out, code, field));
    }
    let m = &node.macvlan;
    let macvlan_cases: Vec<(&str, Value, u64, &str)> = vec![
        ("master lo", conf::with(m, "master", json!("lo")), 7, "master"),
        ("master ../x", conf::with(m, "master", json!("../x")), 7, "master"),
        // The pod's own interface name does not exist on the host.
        ("master eth0 (the pod's ifname)", conf::with(m, "master", json!("eth0")), 7, "master"),
    ];
    for (what, c, code, field) in macvlan_cases {
        let out = node.run("macvlan", add(&c));
        collect(&mut failures, node.refused(&format!("macvlan: {what}"), &out, code, field));
    }
    let t = conf::with(m, "type", json!("tap"));
    let tap_cases: Vec<(&str, Value, u64, &str)> = vec![
        ("bridge ../x", conf::with(&t, "bridge", json!("../x")), 7, "bridge"),
        ("bridge lo (not a bridge)", conf::with(&t, "bridge", json!("lo")), 7, "bridge"),
        ("mac with NUL", conf::with(&t, "mac", json!("02:00:00:00:00:0\u{0}")), 7, "mac"),
        ("owner 2^32", conf::with(&t, "owner", json!(4_294_967_296u64)), 7, "owner"),
        ("group a string", conf::with(&t, "group", json!("wheel")), 7, "group"),
        ("selinuxContext with NUL", conf::with(&t, "selinuxContext", json!("u:r:\u{0}:s0")), 7, "selinuxContext"),
    ];
    for (what, c, code, field) in tap_cases {
        let out = node.run("tap", add(&c));
        collect(&mut failures, node.refused(&format!("tap: {what}"), &out, code, field));
    }
    // bandwidth, chained after a veth that is not there: its own keys fail first.
    let prev = json!({ "cniVersion": V, "interfaces": [{ "name": "eth0", "sandbox": node.lab.pod(0).path_str() }] });
    let bw = json!({ "cniVersion": V, "name": node.lab.net, "type": "bandwidth", "prevResult": prev });
    let bandwidth_cases: Vec<(&str, Value, u64, &str)> = vec![
        ("ingressRate 1e30", conf::with(&bw, "ingressRate", json!(1e30)), 7, "ingressRate"),
        ("egressRate negative", conf::with(&bw, "egressRate", json!(-10)), 7, "egressRate"),
        (
            "ingressBurst u64::MAX",
            conf::with(&conf::with(&bw, "ingressRate", json!(1000)), "ingressBurst", json!(u64::MAX)),
            7,
            "ingressBurst",
        ),
        ("shapedSubnets ../x", conf::with(&bw, "shapedSubnets", json!(["../x"])), 7, "shapedSubnets"),
        (
            "runtimeConfig.bandwidth a list",
            conf::with(&bw, "runtimeConfig", json!({ "bandwidth": [1] })),
            7,
            "bandwidth",
        ),
    ];
    for (what, c, code, field) in bandwidth_cases {
        let out = node.run("bandwidth", add(&c));
        collect(&mut failures, node.refused(&format!("bandwidth: {what}"), &out, code, field));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// loopback has no keys: its bad input is the protocol's. Each row gets a
/// clean CNI error naming the culprit, the host is untouched and the pod's
/// lo stays down (a runtime's fresh netns), since lo is all loopback changes.
#[test]
fn loopback_bad_protocol_input_gets_clean_errors_and_leaves_lo_down() {
    if skip() {
        return;
    }
    let node = Node::new();
    let pod = node.lab.pod(0);
    pod.ip(&["link", "set", "lo", "down"]).expect("lo down");
    let c = json!({ "cniVersion": V, "name": node.lab.net, "type": "loopback" });
    let lo = |c: &Value| Invocation::add().attachment("hostile", "lo").stdin_json(c);
    let cases: Vec<(&str, Invocation, u64, &str)> = vec![
        ("cniVersion 0.5.0", lo(&conf::with(&c, "cniVersion", json!("0.5.0"))), 1, "cniVersion"),
        ("cniVersion 2.0.0", lo(&conf::with(&c, "cniVersion", json!("2.0.0"))), 1, "cniVersion"),
        ("CHECK at 0.3.1", lo(&conf::with(&c, "cniVersion", json!("0.3.1"))).command("CHECK"), 1, "CHECK"),
        ("GC at 1.0.0", Invocation::gc().stdin_json(&c), 1, "GC"),
        ("STATUS at 1.0.0", Invocation::status().stdin_json(&c), 1, "STATUS"),
        ("name missing", lo(&conf::without(&c, "name")), 7, "name"),
        ("name ../../x", lo(&conf::with(&c, "name", json!("../../x"))), 7, "name"),
        ("name with NUL", lo(&conf::with(&c, "name", json!("a\u{0}b"))), 7, "name"),
        ("name a number", lo(&conf::with(&c, "name", json!(5))), 7, "name"),
        ("prevResult a string", lo(&conf::with(&c, "prevResult", json!("lo"))), 7, "prevResult"),
        ("stdin not JSON", lo(&c).stdin_raw("{ not json"), 6, ""),
        ("stdin a JSON array", lo(&c).stdin_raw("[1,2]"), 6, ""),
        ("ifname ../x", lo(&c).set("CNI_IFNAME", "../x"), 4, "CNI_IFNAME"),
        ("ifname 16 bytes", lo(&c).set("CNI_IFNAME", "lo0123456789abcd"), 4, "CNI_IFNAME"),
        ("container ID ../../etc", lo(&c).set("CNI_CONTAINERID", "../../etc"), 4, "CNI_CONTAINERID"),
        ("without CNI_CONTAINERID", lo(&c).unset("CNI_CONTAINERID"), 4, "CNI_CONTAINERID"),
        ("unknown CNI_COMMAND", lo(&c).command("FROB"), 4, "CNI_COMMAND"),
    ];
    let mut failures = Vec::new();
    for (what, inv, code, field) in cases {
        let out = node.run("loopback", inv);
        collect(&mut failures, node.refused(&format!("loopback: {what}"), &out, code, field));
        collect(&mut failures, lo_still_down(&node, what));
    }
    // Without CNI_NETNS (node.run would set it), and with one that is no pod's.
    let no_netns = lo(&c).unset("CNI_NETNS");
    let out = node.lab.exec_plugin(&Binary::ours("loopback"), &no_netns);
    collect(&mut failures, node.refused("loopback: without CNI_NETNS", &out, 4, "CNI_NETNS"));
    collect(&mut failures, lo_still_down(&node, "without CNI_NETNS"));
    // A DEL into the host's own namespace would take the node's lo down: refused or a no-op.
    let host = node.lab.host.path_str();
    let del = Invocation::del().attachment("hostile", "lo").stdin_json(&c).set("CNI_NETNS", &host);
    let _ = node.lab.exec_plugin(&Binary::ours("loopback"), &del);
    if !node.lab.host.link("lo").is_some_and(|l| l.admin_up()) {
        failures.push("loopback: DEL with the host's own namespace took the host's lo down".into());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The pod's lo is down, as before the refused input.
fn lo_still_down(node: &Node, what: &str) -> Result<(), String> {
    match node.lab.pod(0).link("lo") {
        Some(lo) if !lo.admin_up() => Ok(()),
        _ => Err(format!("loopback: {what}: the pod's lo is up\n{}", node.lab.pod(0).dump())),
    }
}

/// `CNI_NETNS` naming a regular file, a FIFO (whose open would block for
/// ever), a namespace of another type, or the host's own network namespace:
/// code 4 naming CNI_NETNS, promptly, and the host untouched.
#[test]
fn cni_netns_that_is_not_a_pod_namespace_is_refused() {
    if skip() {
        return;
    }
    let node = Node::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("file");
    std::fs::write(&file, "not a namespace").expect("write");
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let host = node.lab.host.path_str();
    let targets = [
        ("a regular file", file.display().to_string()),
        ("a FIFO", fifo.display().to_string()),
        ("a mount namespace", "/proc/self/ns/mnt".to_string()),
        ("the host's own namespace", host.clone()),
        ("the host's own namespace via /proc", "/proc/thread-self/ns/net".to_string()),
    ];
    let mut failures = Vec::new();
    let lo = json!({ "cniVersion": V, "name": node.lab.net, "type": "loopback" });
    for plugin in ["bridge", "macvlan", "loopback"] {
        let c = match plugin {
            "bridge" => &node.bridge,
            "macvlan" => &node.macvlan,
            _ => &lo,
        };
        for (what, ns) in &targets {
            let started = Instant::now();
            let inv = add(c).set("CNI_NETNS", ns).timeout(Duration::from_secs(10));
            let out = node.lab.exec_plugin(&Binary::ours(plugin), &inv);
            if out.timed_out {
                failures.push(format!("{plugin}: CNI_NETNS {what}: ADD hung ({:?})", started.elapsed()));
                continue;
            }
            collect(&mut failures, node.refused(&format!("{plugin}: CNI_NETNS {what}"), &out, 4, "CNI_NETNS"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A 100 MB stdin (one huge unknown key) is parsed and answered, in bounded
/// time, and a config with 10,000 routes is installed and removed whole.
#[test]
fn huge_inputs_are_handled_and_cleaned_up() {
    if skip() {
        return;
    }
    let node = Node::new();
    let mut big = node.bridge.clone();
    big["padding"] = json!("x".repeat(100 << 20));
    let started = Instant::now();
    let out = node.run("bridge", add(&big).timeout(Duration::from_secs(120)));
    let prev = out.assert_ok_json();
    eprintln!("100 MB stdin: ADD in {:?}", started.elapsed());
    node.run(
        "bridge",
        Invocation::del().attachment("hostile", "eth0").stdin_json(&conf::with_prev_result(&big, &prev)),
    )
    .assert_ok();
    node.lab.host.ip(&["link", "del", &node.lab.bridge]).expect("remove the bridge");
    node.untouched("after the 100 MB ADD and DEL").unwrap_or_else(|e| panic!("{e}"));

    let routes: Vec<Value> =
        (0..10_000).map(|i| json!({ "dst": format!("10.{}.{}.0/24", 100 + i / 256, i % 256) })).collect();
    let many = conf::with(&node.macvlan, "ipam.routes", json!(routes));
    let started = Instant::now();
    let out = node.run("macvlan", add(&many).timeout(Duration::from_secs(120)));
    let prev = out.assert_ok_json();
    eprintln!("10,000 routes: ADD in {:?}", started.elapsed());
    let installed = node.lab.pod(0).routes(false).len();
    assert!(installed >= 10_000, "only {installed} routes in the pod");
    let del = Invocation::del().attachment("hostile", "eth0").stdin_json(&conf::with_prev_result(&many, &prev));
    node.run("macvlan", del).assert_ok();
    node.untouched("after the 10,000-route ADD and DEL").unwrap_or_else(|e| panic!("{e}"));
}

/// DEL must not delete what merely has the expected name: a host link called
/// like the pod's interface survives DEL with the netns gone, empty, or
/// without that interface.
#[test]
fn del_never_touches_a_host_link_that_only_has_the_name() {
    if skip() {
        return;
    }
    let node = Node::new();
    node.lab.host.ip(&["link", "add", "eth0", "type", "veth", "peer", "name", "eth0peer"]).expect("host eth0");
    for plugin in ["bridge", "macvlan"] {
        let c = if plugin == "bridge" { &node.bridge } else { &node.macvlan };
        for netns in ["", "/run/netns/railcni-no-such-pod", node.lab.pod(0).path_str().as_str()] {
            let inv = Invocation::del().attachment("hostile", "eth0").stdin_json(c).set("CNI_NETNS", netns);
            node.lab.exec_plugin(&Binary::ours(plugin), &inv).assert_ok();
            assert!(node.lab.host.link("eth0").is_some(), "{plugin} DEL (CNI_NETNS={netns:?}) deleted the host's eth0");
        }
        // The host's own namespace as CNI_NETNS: refused or a no-op, never a deletion.
        let inv =
            Invocation::del().attachment("hostile", "eth0").stdin_json(c).set("CNI_NETNS", &node.lab.host.path_str());
        let _ = node.lab.exec_plugin(&Binary::ours(plugin), &inv);
        assert!(node.lab.host.link("eth0").is_some(), "{plugin} DEL into the host namespace deleted the host's eth0");
    }
}

/// GC of one network never releases another network's reservations, even
/// when both share a dataDir and the other's owners are not listed.
#[test]
fn gc_never_releases_another_networks_reservations() {
    let dd = DataDir::new();
    let hl = Binary::ours("host-local");
    let a = conf::host_local_v4("1.1.0", &unique_name("gc-a"), dd.path(), "10.97.0.0/24");
    let b = conf::host_local_v4("1.1.0", &unique_name("gc-b"), dd.path(), "10.97.0.0/24");
    for i in 0..5 {
        hl.add(&a, &format!("a{i}"), "eth0").assert_ok_json();
        hl.add(&b, &format!("b{i}"), "eth0").assert_ok_json();
    }
    let before_b = dd.reservations(b["name"].as_str().unwrap_or(""));
    let mut gc = a.clone();
    gc["cni.dev/valid-attachments"] = json!([]);
    hl.call(&Invocation::gc().stdin_json(&gc)).assert_ok_silent();
    assert!(dd.reservations(a["name"].as_str().unwrap_or("")).is_empty(), "GC kept network a's stale reservations");
    assert_eq!(dd.reservations(b["name"].as_str().unwrap_or("")), before_b, "GC of network a touched network b");
}

/// portmap and firewall (chained, their work is the node's nftables):
/// crafted values in their keys and `runtimeConfig` get a clean code 7
/// naming the key, and the node's rules stay as they were.
#[test]
fn portmap_and_firewall_refuse_crafted_values_and_change_nothing() {
    if skip() {
        return;
    }
    let node = Node::new();
    let prev = json!({ "cniVersion": V, "interfaces": [{ "name": node.lab.bridge }, { "name": "eth0", "sandbox": "/x" }],
        "ips": [{ "interface": 1, "address": "10.96.0.5/24" }] });
    let chained = |keys: Value| {
        let mut c = node.lab.plugin_conf(V, keys);
        c["prevResult"] = prev.clone();
        c
    };
    let port = |entry: Value| json!({ "type": "portmap", "runtimeConfig": { "portMappings": [entry] } });
    let tcp = |k: &str, v: Value| {
        let mut e = json!({ "hostPort": 8080, "containerPort": 80, "protocol": "tcp" });
        e[k] = v;
        e
    };
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        ("portmap", "hostPort huge", port(tcp("hostPort", json!(99_999_999_999u64))), "hostPort"),
        ("portmap", "hostPort negative", port(tcp("hostPort", json!(-80))), "hostPort"),
        ("portmap", "protocol with NUL", port(tcp("protocol", json!("tcp\u{0}"))), "protocol"),
        ("portmap", "hostIP with NUL", port(tcp("hostIP", json!("10.0.0.1\u{0}"))), "hostIP"),
        ("portmap", "markMasqBit negative", json!({ "type": "portmap", "markMasqBit": -1 }), "markMasqBit"),
        (
            "portmap",
            "conditionsV4 injection",
            json!({ "type": "portmap", "conditionsV4": ["-j", "DROP"] }),
            "conditionsV4",
        ),
        (
            "firewall",
            "admin chain with NUL",
            json!({ "type": "firewall", "iptablesAdminChainName": "a\u{0}b" }),
            "iptablesAdminChainName",
        ),
        (
            "firewall",
            "admin chain 300 bytes",
            json!({ "type": "firewall", "iptablesAdminChainName": "x".repeat(300) }),
            "iptablesAdminChainName",
        ),
        (
            "firewall",
            "ingressPolicy with NUL",
            json!({ "type": "firewall", "ingressPolicy": "open\u{0}" }),
            "ingressPolicy",
        ),
    ];
    let mut failures = Vec::new();
    for (plugin, what, keys, field) in cases {
        let out = node.run(plugin, add(&chained(keys)));
        collect(&mut failures, node.refused(&format!("{plugin}: {what}"), &out, 7, field));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
