//! `railcni-ipam`, the operator's tool, against a real etcd cluster: list,
//! check on a clean and a corrupted store, release-node, gc with a live list.

mod common;

use common::{EtcdCluster, Node, bursts, run, secure_cluster, start};
use serde_json::{Value, json};

fn conf(node: &Node) -> Value {
    node.conf("adm", json!({"range": "10.88.0.0/22", "network_name": "adm", "node_slice_size": "/26"}))
}

fn keys(cluster: &EtcdCluster) -> Vec<String> {
    cluster
        .etcdctl(&["get", "--prefix", "--keys-only", "/railcni/"])
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn list_json_and_check_on_a_clean_then_corrupted_store() {
    let cluster = EtcdCluster::start();
    let node = Node::new("adm-a", &cluster.endpoints());
    for cid in ["c1", "c2"] {
        run("ADD", &conf(&node), cid, "net1").assert_ok("ADD");
    }
    let l = node.admin(&["--json", "list"], "");
    assert_eq!(l.code, 0, "{l:?}");
    let v = l.json();
    let net = v["networks"].as_array().unwrap().iter().find(|n| n["id"] == "adm").expect("network adm");
    assert_eq!(net["ranges"], json!(["10.88.0.0/22"]));
    assert_eq!(net["slices"][0]["node"], "adm-a");
    assert!(net["slices"][0]["subnet"].as_str().unwrap().ends_with("/26"), "{net}");
    let allocs = net["allocations"].as_array().unwrap();
    assert_eq!(allocs.len(), 2);
    let c1 = allocs.iter().find(|a| a["container_id"] == "c1").unwrap();
    assert_eq!(
        (c1["ifname"].as_str(), c1["pod_namespace"].as_str(), c1["pod_name"].as_str()),
        (Some("net1"), Some("ns"), Some("pod-c1"))
    );
    assert_eq!(c1["node"], "adm-a");
    let text = node.admin(&["list"], "");
    assert!(text.stdout.contains("pod ns/pod-c1") && text.stdout.contains("node adm-a"), "{text:?}");

    let ok = node.admin(&["check"], "");
    assert_eq!(ok.code, 0, "clean store: {ok:?}");
    assert_eq!(node.admin(&["check", "--json"], "").json()["ok"], true);

    // Corrupt it: c1's record copied under another slice of the network, as a foreign writer might.
    let ip = c1["ip"].as_str().unwrap();
    let key = keys(&cluster).into_iter().find(|k| k.contains("/addrs/") && k.ends_with(&format!("/{ip}"))).unwrap();
    let value = cluster.etcdctl(&["get", "--print-value-only", &key]);
    let (dir, _) = key.rsplit_once('/').unwrap();
    let (base, slice) = dir.rsplit_once('/').unwrap();
    let other = if slice.parse::<u64>().unwrap() == 0 { 1 } else { 0 };
    let dup = format!("{base}/{other:08}/{ip}");
    cluster.etcdctl(&["put", &dup, value.trim()]);
    let bad = node.admin(&["check"], "");
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stdout.contains(&format!("address {ip} of network adm is in 2 records")), "{bad:?}");
    assert!(bad.stdout.contains(&format!("{dup}: {ip} is not inside slice")), "{bad:?}");
    let j = node.admin(&["--json", "check"], "").json();
    assert_eq!(j["ok"], false);
    assert!(j["findings"].as_array().unwrap().len() >= 2, "{j}");
    cluster.etcdctl(&["del", &dup]);
    assert_eq!(node.admin(&["check"], "").code, 0);
}

#[test]
fn release_node_frees_100_allocations_over_tls_and_auth() {
    let cluster = secure_cluster();
    let gone = Node::secure("adm-gone", &cluster);
    let stays = Node::secure("adm-stays", &cluster);
    run("ADD", &conf(&stays), "keep", "net1").assert_ok("ADD on the staying node");
    let cids: Vec<String> = (0..100).map(|i| format!("p{i}")).collect();
    let started = std::time::Instant::now();
    for (cid, out) in bursts(cids, 8, |cid| start("ADD", &conf(&gone), cid, "net1", &[])) {
        out.assert_ok(&format!("ADD {cid}"));
    }
    let add_time = started.elapsed();
    let before = keys(&cluster);
    assert!(before.iter().filter(|k| k.contains("/nodes/adm-gone/")).count() == 100, "{}", before.len());
    // More keys than one page of the admin tool's reads (256): list sees them all.
    assert!(before.len() > 300, "{}", before.len());
    let paged = cluster_ipam::store::Store::list_all(&mut stays.store(), "/railcni/").unwrap();
    assert_eq!(paged.iter().map(|kv| kv.key.clone()).collect::<Vec<_>>(), before, "paged read");
    let listed = stays.admin(&["--json", "list"], "").json();
    let gone_node = listed["nodes"].as_array().unwrap().iter().find(|n| n["node"] == "adm-gone").unwrap().clone();
    assert_eq!(gone_node["allocations"], 100, "{gone_node}");
    assert_eq!(listed["networks"][0]["allocations"].as_array().unwrap().len(), 101);
    let started = std::time::Instant::now();
    let out = stays.admin(&["--json", "release-node", "adm-gone"], "");
    let release_time = started.elapsed();
    assert_eq!(out.code, 0, "{out:?}");
    let freed = out.json();
    assert_eq!(freed["allocations"].as_array().unwrap().len(), 100, "{freed}");
    assert!(!freed["slices"].as_array().unwrap().is_empty());
    eprintln!("100 ADDs (bursts of 8): {add_time:?}; release-node of 100 allocations: {release_time:?}");
    // No key of that node is left: none under its name, no record or slice naming it.
    let dump = cluster.etcdctl(&["get", "--prefix", "/railcni/"]);
    assert!(!dump.contains("adm-gone"), "left behind: {dump}");
    assert!(dump.contains("adm-stays") && dump.contains("/nodes/adm-stays/att/adm/keep/"), "{dump}");
    assert_eq!(stays.admin(&["check"], "").code, 0);
    // Releasing again is a no-op.
    let again = stays.admin(&["--json", "release-node", "adm-gone"], "").json();
    assert_eq!(again["allocations"], json!([]));
}

#[test]
fn release_node_refuses_a_live_node_without_force() {
    // The heartbeat too needs nothing beyond the node's prefix-limited user.
    let cluster = secure_cluster();
    let node = Node::secure("adm-live", &cluster);
    run("ADD", &conf(&node), "c1", "net1").assert_ok("ADD");
    let mut hb = std::process::Command::new(common::ADMIN)
        .args(["--config"])
        .arg(node.settings())
        .arg("heartbeat")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !keys(&cluster).iter().any(|k| k.ends_with("/alive/adm-live")) {
        assert!(std::time::Instant::now() < deadline, "heartbeat never wrote its key");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = node.admin(&["release-node", "adm-live"], "");
    let _ = hb.kill();
    let _ = hb.wait();
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("alive"), "{out:?}");
    assert!(keys(&cluster).iter().any(|k| k.contains("/nodes/adm-live/")));
    let forced = node.admin(&["release-node", "adm-live", "--force"], "");
    assert_eq!(forced.code, 0, "{forced:?}");
    assert!(!cluster.etcdctl(&["get", "--prefix", "/railcni/"]).contains("adm-live"));
}

#[test]
fn gc_frees_what_the_live_list_lacks() {
    let cluster = EtcdCluster::start();
    let a = Node::new("adm-ga", &cluster.endpoints());
    let b = Node::new("adm-gb", &cluster.endpoints());
    for cid in ["c1", "c2", "c3"] {
        run("ADD", &conf(&a), cid, "net1").assert_ok("ADD a");
    }
    run("ADD", &conf(&b), "c4", "net1").assert_ok("ADD b");
    // Refused: no list, an empty list.
    assert_eq!(a.admin(&["gc"], "").code, 2);
    let empty = a.admin(&["gc", "--live", "-"], "# nothing\n\n");
    assert_eq!(empty.code, 3, "{empty:?}");
    // c1 is live by pod name, c2 by container ID; c3 and c4 are not.
    let live = "# pods\nns/pod-c1\nc2\n\nother/pod\n";
    // Only node adm-ga's first.
    let out = a.admin(&["--json", "gc", "--node", "adm-ga", "--live", "-"], live);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["allocations"].as_array().unwrap().len(), 1, "{out:?}");
    let left = cluster.etcdctl(&["get", "--prefix", "--keys-only", "/railcni/ipam/v1/nodes/"]);
    assert!(
        left.contains("/c1/") && left.contains("/c2/") && !left.contains("/c3/") && left.contains("/c4/"),
        "{left}"
    );
    // From a file, every node.
    let file = a.path("live.txt");
    std::fs::write(&file, live).unwrap();
    let out = a.admin(&["gc", "--live", file.to_str().unwrap()], "");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("gc: 1 allocations"), "{out:?}");
    let left = cluster.etcdctl(&["get", "--prefix", "--keys-only", "/railcni/ipam/v1/"]);
    assert!(!left.contains("/c4/") && left.matches("/overlap/").count() == 2, "{left}");
    assert_eq!(a.admin(&["check"], "").code, 0);
    // The freed addresses are free: CHECK of c3 fails, c1 and c2 still pass.
    run("CHECK", &conf(&a), "c1", "net1").assert_ok("CHECK c1");
    run("CHECK", &conf(&a), "c2", "net1").assert_ok("CHECK c2");
    assert!(!run("CHECK", &conf(&a), "c3", "net1").ok());
}
