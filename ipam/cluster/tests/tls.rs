//! TLS to etcd, part of every build: a 3-member cluster that demands client
//! certificates is used through them, and refuses a client without one.

mod common;

use common::{EtcdCluster, Node, run, write_private};
use serde_json::json;

#[test]
fn tls_with_client_certificates() {
    let cluster = EtcdCluster::start_tls();
    let eps = cluster.endpoints();
    let tls = cluster.tls().unwrap().clone();
    let node = Node::new("n0", &eps);
    // The key must be private to the node (0600): a copy of the test kit's.
    let key = node.path("client.key");
    write_private(&key, &std::fs::read(&tls.client_key).unwrap());
    let ipam = json!({"range": "10.84.0.0/24", "timeout": 2, "etcd_ca_cert_file": tls.ca,
        "etcd_cert_file": tls.client_cert, "etcd_key_file": key});
    let conf = node.conf("t", ipam.clone());
    let out = run("ADD", &conf, "c", "net1");
    out.assert_ok("ADD over TLS");
    run("CHECK", &conf, "c", "net1").assert_ok("CHECK over TLS");
    run("STATUS", &conf, "", "").assert_ok("STATUS over TLS");
    let keys = cluster.etcdctl(&["get", "--prefix", "--keys-only", "/railcni/ipam/v1/nodes/"]);
    assert!(keys.contains("/c/net1/"), "{keys}");
    run("DEL", &conf, "c", "net1").assert_ok("DEL over TLS");
    // Without a client certificate the cluster refuses the connection: never code 0.
    let mut bare = ipam;
    bare.as_object_mut().unwrap().retain(|k, _| k != "etcd_cert_file" && k != "etcd_key_file");
    let out = run("ADD", &node.conf("t", bare), "d", "net1");
    assert!(!out.ok(), "ADD without a client certificate: {out:?}");
    assert_eq!(run("STATUS", &node.conf("t", json!({"range": "10.84.0.0/24", "timeout": 1})), "", "").code(), 50);
}
