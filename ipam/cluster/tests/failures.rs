//! Failure behaviour against a real 3-member etcd cluster: kill points at
//! every etcd and disk step, etcd down (code 11 within the timeout, DEL
//! journaled and replayed), bad input (code 7 naming the field, nothing
//! written), GC, STATUS and CHECK.

mod common;

use common::{EtcdCluster, Node, list, run, start};
use serde_json::{Value, json};
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

fn small() -> Value {
    json!({"range": "10.50.0.0/24", "node_slice_size": "/28", "network_name": "k"})
}

/// Nothing of `cid` on `node` is left: no index entry, no record, no journal.
fn assert_nothing_for(eps: &[String], node: &Node, cid: &str) {
    let att = list(eps, &format!("/railcni/ipam/v1/nodes/{}/att/", node.name));
    assert!(att.iter().all(|kv| !kv.key.contains(&format!("/{cid}/"))), "index entry left for {cid}");
    let recs = list(eps, "/railcni/ipam/v1/nets/");
    let left: Vec<&String> = recs
        .iter()
        .filter(|kv| kv.key.contains("/addrs/") && String::from_utf8_lossy(&kv.value).contains(&format!("\"{cid}\"")))
        .map(|kv| &kv.key)
        .collect();
    assert!(left.is_empty(), "records left for {cid}: {left:?}");
    let overlap = list(eps, "/railcni/ipam/v1/overlap/");
    assert!(overlap.iter().all(|kv| !String::from_utf8_lossy(&kv.value).contains(&format!("\"{cid}\""))));
    assert!(!node.journal().exists(), "journal left on {}", node.name);
}

/// A cluster, one node, and a config with a 2 s timeout.
fn one_node_with_2s_timeout() -> (EtcdCluster, Vec<String>, Node, Value) {
    let cluster = EtcdCluster::start();
    let eps = cluster.endpoints();
    let node = Node::new("n0", &eps);
    let mut ipam = small();
    ipam["timeout"] = json!(2);
    let conf = node.conf("k", ipam);
    (cluster, eps, node, conf)
}

/// How many kill points a run passes (the debug binary logs each step).
fn steps(out: &common::Out) -> usize {
    out.stderr.lines().filter(|l| l.starts_with("railcni fault step")).count()
}

#[test]
fn kill_points_at_every_etcd_and_disk_step_leave_nothing_after_del() {
    let cluster = EtcdCluster::start();
    let eps = cluster.endpoints();
    // Count the steps of a cold ADD (definition, slice claim, cache write and rename, allocation).
    let probe = Node::new("probe", &eps);
    let out = start("ADD", &probe.conf("k", small()), "probe", "net1", &[("RAILCNI_FAULT_AFTER", "100000")]).finish();
    out.assert_ok("probe ADD");
    let cold = steps(&out);
    assert!(cold >= 5, "a cold ADD has at least 5 steps: {}", out.stderr);
    // Cold ADDs, each on a fresh node and network (so the definition step
    // is there too), killed after each step in turn.
    for n in 1..=cold {
        let node = Node::new(&format!("cold{n}"), &eps);
        let mut ipam = small();
        ipam["network_name"] = json!(format!("k{n}"));
        let conf = node.conf("k", ipam);
        let cid = format!("cold{n}");
        let out = start("ADD", &conf, &cid, "net1", &[("RAILCNI_FAULT_AFTER", &n.to_string())]).finish();
        assert_eq!(out.status.signal(), Some(9), "ADD not killed at step {n}: {out:?}");
        run("DEL", &conf, &cid, "net1").assert_ok("DEL after a killed ADD");
        assert_nothing_for(&eps, &node, &cid);
        // The node still works, with the slice its dead ADD may have claimed.
        run("ADD", &conf, "after", "net1").assert_ok("ADD after a killed ADD");
    }
    // A warm ADD (one step), and DEL killed after each of its steps.
    let conf = probe.conf("k", small());
    let out = start("ADD", &conf, "warm", "net1", &[("RAILCNI_FAULT_AFTER", "1")]).finish();
    assert_eq!(out.status.signal(), Some(9));
    run("DEL", &conf, "warm", "net1").assert_ok("DEL");
    assert_nothing_for(&eps, &probe, "warm");
    run("ADD", &conf, "del-killed", "net1").assert_ok("ADD");
    let out = start("DEL", &conf, "del-killed", "net1", &[("RAILCNI_FAULT_AFTER", "1")]).finish();
    assert_eq!(out.status.signal(), Some(9));
    run("DEL", &conf, "del-killed", "net1").assert_ok("DEL again");
    assert_nothing_for(&eps, &probe, "del-killed");
}

#[test]
fn etcd_down_add_is_code_11_within_timeout_del_is_journaled_and_replayed() {
    let (mut cluster, eps, node, conf) = one_node_with_2s_timeout();
    let a = run("ADD", &conf, "a", "net1");
    a.assert_ok("ADD a");
    run("ADD", &conf, "b", "net1").assert_ok("ADD b");
    cluster.stop_all();

    let out = run("ADD", &conf, "c", "net1");
    assert_eq!(out.code(), 11, "{out:?}");
    assert!(out.elapsed < Duration::from_millis(2500), "ADD took {:?} with a 2 s timeout", out.elapsed);
    let out = run("DEL", &conf, "a", "net1");
    out.assert_ok("DEL with etcd down");
    assert!(node.journal().exists(), "DEL with etcd down must journal the release");
    run("DEL", &conf, "a", "net1").assert_ok("DEL repeated");
    // Killed right after its journal append: the runtime retries the DEL.
    let out = start("DEL", &conf, "b", "net1", &[("RAILCNI_FAULT_AFTER", "1")]).finish();
    assert_eq!(out.status.signal(), Some(9), "{out:?}");
    run("DEL", &conf, "b", "net1").assert_ok("DEL b retried");

    cluster.start_all();
    // Address a's record is still there until a run on the node replays the journal.
    assert!(!list(&eps, "/railcni/ipam/v1/nodes/n0/att/k/a/").is_empty());
    run("STATUS", &conf, "", "").assert_ok("STATUS after etcd is back");
    assert_nothing_for(&eps, &node, "a");
    assert_nothing_for(&eps, &node, "b");
    assert_nothing_for(&eps, &node, "c");
    // The replay released each once; the addresses are free again and ADD works.
    let again = run("ADD", &conf, "c", "net1");
    again.assert_ok("ADD after etcd is back");
}

#[test]
fn bad_input_is_code_7_naming_the_field_and_writes_nothing() {
    let cluster = EtcdCluster::start();
    let eps = cluster.endpoints();
    let node = Node::new("n0", &eps);
    let net = |extra: Value| {
        let mut i = json!({"range": "10.70.0.0/24"});
        for (k, v) in extra.as_object().unwrap() {
            i[k] = v.clone();
        }
        i
    };
    let cases = [
        (json!({"range": "10.70.0.5/24"}), "ipam.range"),
        (json!({"range": 5}), "ipam.range"),
        (json!({"range": "10.70.0.0"}), "ipam.range"),
        (net(json!({"node_slice_size": "/20"})), "ipam.node_slice_size"),
        (net(json!({"node_slice_size": "big"})), "ipam.node_slice_size"),
        (json!({"range": "fd00:70::/64", "node_slice_size": "/64"}), "ipam.node_slice_size"),
        (net(json!({"range_start": "10.71.0.1"})), "ipam.range_start"),
        (net(json!({"range_end": "x"})), "ipam.range_end"),
        (net(json!({"exclude": ["nope"]})), "ipam.exclude[0]"),
        (net(json!({"exclude": "10.70.0.0/30"})), "ipam.exclude"),
        (json!({"ipRanges": [{"range": "10.72.0.0/24"}, {"range": "bad"}]}), "ipam.ipRanges[1].range"),
        (net(json!({"gateway": "nope"})), "ipam.gateway"),
        (net(json!({"gateway": "10.99.0.1"})), "ipam.gateway"),
        (net(json!({"timeout": -1})), "ipam.timeout"),
        (net(json!({"enable_overlapping_ranges": "yes"})), "ipam.enable_overlapping_ranges"),
        (net(json!({"routed": true, "gateway_index": 0})), "ipam.gateway_index"),
        (net(json!({"gateway_index": 2})), "ipam.gateway_index"),
        (net(json!({"network_name": "a/b"})), "ipam.network_name"),
        (net(json!({"etcd_endpoints": "http://127.0.0.1:1"})), "ipam.etcd_endpoints"),
        (net(json!({"etcd_endpoints": ["127.0.0.1:1"]})), "ipam.etcd_endpoints[0]"),
        (net(json!({"configuration_path": "/nonexistent/cluster-ipam.json"})), "ipam.configuration_path"),
        (net(json!({"etcd_password_file": "/nonexistent/pw"})), "ipam.etcd_password_file"),
    ];
    for (ipam, field) in cases {
        let conf = node.conf("bad", ipam.clone());
        let out = run("ADD", &conf, "c", "net1");
        assert_eq!(out.code(), 7, "{ipam}: {out:?}");
        assert!(out.msg().starts_with(field), "{ipam}: message {:?} should name {field}", out.msg());
    }
    assert!(list(&eps, "/railcni/").is_empty(), "bad input wrote to etcd");

    // A network_name whose stored definition differs: code 7 naming the field, nothing more written.
    run("ADD", &node.conf("good", json!({"range": "10.60.0.0/16", "network_name": "shared"})), "c", "net1")
        .assert_ok("ADD");
    let before = list(&eps, "/railcni/").len();
    for (ipam, field) in [
        (json!({"range": "10.61.0.0/16", "network_name": "shared"}), "ipam.range"),
        (json!({"range": "10.60.0.0/16", "network_name": "shared", "node_slice_size": "/27"}), "ipam.node_slice_size"),
        (json!({"range": "10.60.0.0/16", "network_name": "shared", "range_end": "10.60.9.9"}), "ipam.range_end"),
    ] {
        let out = run("ADD", &node.conf("other", ipam.clone()), "d", "net1");
        assert_eq!(out.code(), 7, "{ipam}: {out:?}");
        assert!(out.msg().starts_with(field), "{ipam}: {:?} should name {field}", out.msg());
    }
    assert_eq!(list(&eps, "/railcni/").len(), before, "a refused definition wrote to etcd");
    // The same CIDR under another name is an independent pool.
    run("ADD", &node.conf("indep", json!({"range": "10.60.0.0/16", "network_name": "other"})), "d", "net1")
        .assert_ok("same CIDR, other name");
}

#[test]
fn gc_status_check_and_idempotent_add() {
    let (mut cluster, eps, node, conf) = one_node_with_2s_timeout();
    let first = run("ADD", &conf, "c1", "net1");
    first.assert_ok("ADD");
    assert_eq!(run("ADD", &conf, "c1", "net1").ips(), first.ips(), "a repeated ADD returns the same address");
    run("ADD", &conf, "c2", "net1").assert_ok("ADD");
    run("ADD", &conf, "c3", "net1").assert_ok("ADD");
    run("CHECK", &conf, "c1", "net1").assert_ok("CHECK");
    assert_eq!(run("CHECK", &conf, "c9", "net1").code(), 103);

    // No attachment list: nothing may be collected.
    run("GC", &conf, "", "").assert_ok("GC without a list");
    assert_eq!(list(&eps, "/railcni/ipam/v1/nodes/n0/att/k/").len(), 3);
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "c1", "ifname": "net1"}]);
    run("GC", &gc, "", "").assert_ok("GC");
    let left: Vec<String> = list(&eps, "/railcni/ipam/v1/nodes/n0/att/k/").into_iter().map(|kv| kv.key).collect();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].contains("/c1/net1/"));
    assert_nothing_for(&eps, &node, "c2");
    assert_nothing_for(&eps, &node, "c3");
    run("CHECK", &conf, "c1", "net1").assert_ok("CHECK after GC");

    run("STATUS", &conf, "", "").assert_ok("STATUS");
    cluster.stop_all();
    let out = run("STATUS", &conf, "", "");
    assert_eq!(out.code(), 50, "{out:?}");
    assert!(out.msg().contains("etcd unreachable"), "{out:?}");
}

#[test]
fn etcd_user_and_password_file_and_no_credential_in_any_output() {
    let cluster = EtcdCluster::start();
    let eps = cluster.endpoints();
    // A user that may touch only railcni's prefix, as the README suggests.
    for args in [
        &["user", "add", "root:root-pw-0"][..],
        &["role", "add", "railcni"],
        &["role", "grant-permission", "--prefix=true", "railcni", "readwrite", "/railcni/"],
        &["user", "add", "railcni:s3cret-pw-42"],
        &["user", "grant-role", "railcni", "railcni"],
        &["auth", "enable"],
    ] {
        cluster.etcdctl(args);
    }
    let node = Node::new("n0", &eps);
    let pw = node.dir.path().join("etcd-password");
    common::write_private(&pw, b"s3cret-pw-42\n");
    let mut ipam = small();
    ipam["etcd_username"] = json!("railcni");
    ipam["etcd_password_file"] = json!(pw);
    ipam["timeout"] = json!(2);
    let conf = node.conf("k", ipam.clone());
    let out = run("ADD", &conf, "c1", "net1");
    out.assert_ok("ADD with user and password");
    run("STATUS", &conf, "", "").assert_ok("STATUS with user and password");
    let stored =
        cluster.etcdctl(&["--user", "root:root-pw-0", "get", "--prefix", "--keys-only", "/railcni/ipam/v1/nodes/"]);
    assert!(stored.contains("/c1/net1/"), "{stored}");
    run("DEL", &conf, "c1", "net1").assert_ok("DEL");

    common::write_private(&pw, b"wrong-pw-7\n");
    let out = run("ADD", &conf, "c2", "net1");
    assert!(!out.ok(), "ADD with a wrong password: {out:?}");
    assert_ne!(out.code(), 11, "bad credentials are not worth a retry: {out:?}");
    let status = run("STATUS", &conf, "", "");
    assert_eq!(status.code(), 50, "{status:?}");
    for o in [&out, &status] {
        let all = format!("{} {}", o.stdout, o.stderr);
        assert!(!all.contains("wrong-pw-7") && !all.contains("s3cret-pw-42"), "a password leaked: {all}");
    }
}
