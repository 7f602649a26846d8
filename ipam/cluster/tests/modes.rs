//! Exhaustion, borrowing, routed mode, dual stack and overlapping ranges,
//! against a real 3-member etcd cluster.

mod common;

use common::{EtcdCluster, Node, run};
use serde_json::json;
use std::collections::HashSet;

#[test]
fn exhaustion_names_the_network_and_borrowing_is_opt_in() {
    let cluster = EtcdCluster::start();
    let eps = cluster.endpoints();
    let (a, b) = (Node::new("a", &eps), Node::new("b", &eps));
    // One /28 slice: 10.80.0.1-14, less the gateway: 13 addresses, all node a's.
    let ipam = json!({"range": "10.80.0.0/28", "gateway": "10.80.0.1", "network_name": "tiny"});
    let conf_a = a.conf("tiny", ipam.clone());
    let mut got = HashSet::new();
    for i in 0..13 {
        let out = run("ADD", &conf_a, &format!("a{i}"), "net1");
        out.assert_ok("ADD");
        assert!(got.insert(out.ips()[0].clone()));
        assert_eq!(out.stdout["ips"][0]["gateway"], "10.80.0.1");
    }
    assert!(!got.contains("10.80.0.1/28"), "the gateway was handed out");
    let out = run("ADD", &conf_a, "a13", "net1");
    assert_eq!(out.code(), 101, "{out:?}");
    assert!(out.msg().contains("tiny"), "exhaustion must name the network: {out:?}");
    // Node b has no slice to claim: refused, unless it may borrow.
    run("DEL", &conf_a, "a0", "net1").assert_ok("DEL");
    let out = run("ADD", &b.conf("tiny", ipam.clone()), "b0", "net1");
    assert_eq!(out.code(), 101, "{out:?}");
    let mut borrowing = ipam.clone();
    borrowing["allow_borrowing"] = json!(true);
    let out = run("ADD", &b.conf("tiny", borrowing), "b0", "net1");
    out.assert_ok("borrowing ADD");
    let rec = common::list(&eps, "/railcni/ipam/v1/nets/tiny/pools/10.80.0.0_28/addrs/")
        .into_iter()
        .find(|kv| String::from_utf8_lossy(&kv.value).contains("\"b0\""))
        .expect("b0's record");
    let rec: cluster_ipam::alloc::Record = serde_json::from_slice(&rec.value).unwrap();
    assert!(rec.borrowed && rec.node == "b", "{rec:?}");
}

#[test]
fn routed_mode_gives_each_slice_its_subnet_and_gateway() {
    let cluster = EtcdCluster::start();
    let eps = cluster.endpoints();
    let ipam = json!({"range": "10.81.0.0/24", "node_slice_size": "/26", "routed": true, "gateway_index": 1,
        "network_name": "l3"});
    let mut subnets = HashSet::new();
    for n in ["a", "b"] {
        let node = Node::new(n, &eps);
        let out = run("ADD", &node.conf("l3", ipam.clone()), &format!("{n}0"), "net1");
        out.assert_ok("routed ADD");
        let addr = out.ips()[0].clone();
        assert!(addr.ends_with("/26"), "{addr}");
        let ip: std::net::Ipv4Addr = addr.split('/').next().unwrap().parse().unwrap();
        let base = u32::from(ip) & !63;
        let gw = std::net::Ipv4Addr::from(base + 1).to_string();
        assert_eq!(out.stdout["ips"][0]["gateway"], gw.as_str(), "{out:?}");
        assert_ne!(ip.to_string(), gw);
        let route = &out.stdout["routes"][0];
        assert_eq!((route["dst"].as_str(), route["gw"].as_str()), (Some("10.81.0.0/24"), Some(gw.as_str())));
        assert!(subnets.insert(base), "two nodes in one slice");
    }
}

#[test]
fn dual_stack_and_overlapping_ranges() {
    let cluster = EtcdCluster::start();
    let eps = cluster.endpoints();
    let node = Node::new("a", &eps);
    let dual = json!({"ipRanges": [{"range": "10.82.0.0/24"}, {"range": "fd00:82::/64"}], "network_name": "dual"});
    let out = run("ADD", &node.conf("dual", dual.clone()), "c", "net1");
    out.assert_ok("dual-stack ADD");
    let ips = out.ips();
    assert_eq!(ips.len(), 2, "{out:?}");
    assert!(ips[0].starts_with("10.82.0.") && ips[1].starts_with("fd00:82::") && ips[1].ends_with("/64"), "{ips:?}");
    run("CHECK", &node.conf("dual", dual.clone()), "c", "net1").assert_ok("CHECK");
    run("DEL", &node.conf("dual", dual), "c", "net1").assert_ok("DEL");

    // Two unnamed networks whose ranges overlap never hand out one address twice.
    let wide = node.conf("wide", json!({"range": "10.83.0.0/24", "node_slice_size": "/24"}));
    let narrow = node.conf("narrow", json!({"range": "10.83.0.0/28", "node_slice_size": "/28"}));
    let mut seen = HashSet::new();
    for i in 0..13 {
        let a = run("ADD", &narrow, &format!("n{i}"), "net1");
        a.assert_ok("narrow ADD");
        assert!(seen.insert(a.ips()[0].split('/').next().unwrap().to_string()));
    }
    for i in 0..40 {
        let b = run("ADD", &wide, &format!("w{i}"), "net1");
        b.assert_ok("wide ADD");
        let ip = b.ips()[0].split('/').next().unwrap().to_string();
        assert!(seen.insert(ip.clone()), "{ip} handed out by both overlapping networks");
    }
}
