//! Dead-node reclaim: a node's heartbeat (`railcni-ipam heartbeat`) keeps
//! it alive under an etcd lease; once the lease expires another node that
//! needs a slice takes back the dead node's empty slices, never one that
//! still holds an allocation.

mod common;

use common::{ADMIN, EtcdCluster, Node, run};
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A /29 cut into two /30 slices of 3 usable addresses each.
fn conf(node: &Node) -> Value {
    node.conf("rcl", json!({"range": "10.89.0.0/29", "network_name": "rcl", "node_slice_size": "/30"}))
}

fn slice_owners(cluster: &EtcdCluster) -> Vec<(String, String)> {
    let out = cluster.etcdctl(&["get", "--prefix", "/railcni/ipam/v1/nets/rcl/pools/10.89.0.0_29/slices/"]);
    let lines: Vec<&str> = out.lines().collect();
    lines
        .chunks(2)
        .map(|kv| {
            (kv[0].to_string(), serde_json::from_str::<Value>(kv[1]).unwrap()["node"].as_str().unwrap().to_string())
        })
        .collect()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    started.elapsed()
}

#[test]
fn an_expired_nodes_empty_slice_is_reclaimed_and_a_used_one_is_not() {
    let cluster = EtcdCluster::start();
    let a = Node::new("rcl-a", &cluster.endpoints());
    let b = Node::new("rcl-b", &cluster.endpoints());
    a.amend_settings(json!({"node_grace_seconds": 2}));
    let mut heartbeat = Command::new(ADMIN)
        .arg("--config")
        .arg(a.settings())
        .arg("heartbeat")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let alive = || cluster.etcdctl(&["get", "--keys-only", "/railcni/ipam/v1/alive/rcl-a"]).contains("rcl-a");
    wait_for("the heartbeat's key", Duration::from_secs(10), alive);
    // A takes both slices: three addresses fill the first, the fourth claims the second.
    let mut held = Vec::new();
    for cid in ["a1", "a2", "a3", "a4"] {
        let out = run("ADD", &conf(&a), cid, "net1");
        out.assert_ok("ADD on A");
        held.push(out.ips()[0].clone());
    }
    let owners = slice_owners(&cluster);
    assert_eq!(owners.len(), 2);
    assert!(owners.iter().all(|(_, n)| n == "rcl-a"), "{owners:?}");
    // The first slice emptied; a4 keeps the second.
    for cid in ["a1", "a2", "a3"] {
        run("DEL", &conf(&a), cid, "net1").assert_ok("DEL on A");
    }
    // Kept alive past several grace periods: B finds no slice.
    std::thread::sleep(Duration::from_secs(3));
    assert!(alive(), "the heartbeat lets its key lapse");
    let out = run("ADD", &conf(&b), "b0", "net1");
    assert_eq!(out.code(), cni::code::RANGE_EXHAUSTED as u64, "A is alive, its slices are not B's: {out:?}");

    // A dies: SIGKILL of the heartbeat by its PID.
    heartbeat.kill().unwrap();
    heartbeat.wait().unwrap();
    let expiry = wait_for("the lease's expiry", Duration::from_secs(10), || !alive());
    eprintln!("A's alive key gone {expiry:?} after the heartbeat's SIGKILL (grace 2 s)");

    let mut got = Vec::new();
    for cid in ["b1", "b2", "b3"] {
        let out = run("ADD", &conf(&b), cid, "net1");
        out.assert_ok("ADD on B after A expired");
        got.push(out.ips()[0].clone());
    }
    assert!(!got.contains(&held[3]), "B got A's held address: {got:?}");
    let out = run("ADD", &conf(&b), "b4", "net1");
    assert_eq!(out.code(), cni::code::RANGE_EXHAUSTED as u64, "the slice holding a4 must stay A's: {out:?}");
    let owners = slice_owners(&cluster);
    assert_eq!(owners.iter().filter(|(_, n)| n == "rcl-b").count(), 1, "{owners:?}");
    assert_eq!(owners.iter().filter(|(_, n)| n == "rcl-a").count(), 1, "{owners:?}");
    // A's allocation is intact; A itself no longer allocates in the lost slice.
    run("CHECK", &conf(&a), "a4", "net1").assert_ok("CHECK a4");
    assert_eq!(b.admin(&["check"], "").code, 0);
    let l = b.admin(&["--json", "list"], "").json();
    let node_a = l["nodes"].as_array().unwrap().iter().find(|n| n["node"] == "rcl-a").unwrap().clone();
    assert_eq!(node_a["alive"], false, "{l}");
    // release-node then frees A's last slice, and B can take it.
    assert_eq!(b.admin(&["release-node", "rcl-a"], "").code, 0);
    run("ADD", &conf(&b), "b4", "net1").assert_ok("ADD on B after release-node");
}
