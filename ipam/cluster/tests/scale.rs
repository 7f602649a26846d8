//! The "Done when" runs against a real 3-member etcd cluster: 16 nodes, 64
//! pods each with 8 rail networks (8,192 ADDs) in bursts of 32 concurrent
//! execs; the same shape with the leader SIGKILLed mid-burst; and a sample
//! of pods getting their addresses on macvlan interfaces in real netns.

mod common;

use cluster_ipam::alloc::Record;
use common::{EtcdCluster, Node, Out, bursts, list, start};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use testkit::lab::macvlan::add_veth_master;
use testkit::netns::Namespace;

const BURST: usize = 32;
const RAILS: usize = 8;
const NODES: usize = 16;

/// The heavy runs share two cores: one at a time.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn rail_ipam(rail: usize) -> Value {
    json!({"range": format!("10.{}.0.0/16", 100 + rail), "network_name": format!("rail{rail}")})
}

#[derive(Clone)]
struct Call {
    node: usize,
    pod: usize,
    rail: usize,
}

impl Call {
    fn cid(&self) -> String {
        format!("n{}p{}", self.node, self.pod)
    }
    fn ifname(&self) -> String {
        format!("net{}", self.rail + 1)
    }
}

struct Fleet {
    cluster: EtcdCluster,
    // Held for their settings files and state dirs.
    _nodes: Vec<Node>,
    confs: Vec<Vec<Value>>,
}

impl Fleet {
    /// `timeout`: the configs' etcd timeout, in seconds.
    fn new(timeout: f64) -> Fleet {
        let cluster = EtcdCluster::start();
        let nodes: Vec<Node> = (0..NODES).map(|n| Node::new(&format!("node{n}"), &cluster.endpoints())).collect();
        let conf = |n: &Node, r: usize| {
            let mut ipam = rail_ipam(r);
            ipam["timeout"] = json!(timeout);
            n.conf(&format!("rail{r}"), ipam)
        };
        let confs = nodes.iter().map(|n| (0..RAILS).map(|r| conf(n, r)).collect()).collect();
        Fleet { cluster, _nodes: nodes, confs }
    }

    fn calls(&self, pods: usize) -> Vec<Call> {
        let mut calls = Vec::new();
        for pod in 0..pods {
            for node in 0..NODES {
                for rail in 0..RAILS {
                    calls.push(Call { node, pod, rail });
                }
            }
        }
        calls
    }

    fn begin(&self, cmd: &str, c: &Call) -> common::Pending {
        start(cmd, &self.confs[c.node][c.rail], &c.cid(), &c.ifname(), &[])
    }

    fn endpoints(&self) -> Vec<String> {
        self.cluster.endpoints()
    }

    /// Every record in etcd lies in a slice its node owns, and the records
    /// are exactly `expected` (rail, ip) → node.
    fn assert_consistent(&self, expected: &HashMap<(usize, IpAddr), usize>) {
        let eps = self.endpoints();
        let mut seen = 0;
        for rail in 0..RAILS {
            let pool = format!("/railcni/ipam/v1/nets/rail{rail}/pools/10.{}.0.0_16/", 100 + rail);
            let owners: HashMap<u64, String> = list(&eps, &format!("{pool}slices/"))
                .iter()
                .map(|kv| {
                    let idx = kv.key.rsplit('/').next().unwrap().parse().unwrap();
                    let v: Value = serde_json::from_slice(&kv.value).unwrap();
                    (idx, v["node"].as_str().unwrap().to_string())
                })
                .collect();
            for kv in list(&eps, &format!("{pool}addrs/")) {
                let ip: IpAddr = kv.key.rsplit('/').next().unwrap().parse().unwrap();
                let rec: Record = serde_json::from_slice(&kv.value).unwrap();
                let IpAddr::V4(v4) = ip else { panic!("{ip}") };
                let slice = u64::from((u32::from(v4) & 0xffff) / 64);
                assert_eq!(rec.slice, slice, "{ip} recorded in the wrong slice");
                assert_eq!(owners.get(&slice), Some(&rec.node), "{ip} of {} is not in a slice of its node", rec.node);
                let want = expected.get(&(rail, ip)).unwrap_or_else(|| panic!("{ip} in etcd but not handed out"));
                assert_eq!(format!("node{want}"), rec.node);
                seen += 1;
            }
        }
        assert_eq!(seen, expected.len(), "etcd holds a different number of allocations than were handed out");
    }

    fn assert_empty(&self) {
        let eps = self.endpoints();
        let addrs: Vec<String> = list(&eps, "/railcni/ipam/v1/nets/")
            .into_iter()
            .map(|kv| kv.key)
            .filter(|k| k.contains("/addrs/"))
            .collect();
        assert!(addrs.is_empty(), "allocation records left: {:?}", &addrs[..addrs.len().min(5)]);
        let left = list(&eps, "/railcni/ipam/v1/nodes/");
        assert!(left.is_empty(), "attachment entries left: {}", left.len());
        let left = list(&eps, "/railcni/ipam/v1/overlap/");
        assert!(left.is_empty(), "overlap keys left: {}", left.len());
    }
}

/// (rail, ip) → node for the successful ADDs; panics on a duplicate.
fn collect(results: &[(Call, Out)], into: &mut HashMap<(usize, IpAddr), usize>) {
    for (c, out) in results.iter().filter(|(_, o)| o.ok()) {
        let ips = out.ips();
        assert_eq!(ips.len(), 1, "{out:?}");
        let ip: IpAddr = ips[0].split('/').next().unwrap().parse().unwrap();
        if let Some(other) = into.insert((c.rail, ip), c.node) {
            panic!("{ip} on rail {} handed out twice (nodes {other} and {})", c.rail, c.node);
        }
    }
}

fn del_all(fleet: &Fleet, calls: Vec<Call>) {
    for (c, out) in bursts(calls, BURST, |c| fleet.begin("DEL", c)) {
        assert!(out.ok(), "DEL {} {}: {out:?}", c.cid(), c.ifname());
    }
}

#[test]
fn sixteen_nodes_64_pods_8_rails_in_bursts_of_32() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let fleet = Fleet::new(5.0);
    let calls = fleet.calls(64);
    assert_eq!(calls.len(), 8192);
    let t = std::time::Instant::now();
    let results = bursts(calls.clone(), BURST, |c| fleet.begin("ADD", c));
    let add_time = t.elapsed();
    let failed: Vec<&Out> = results.iter().map(|(_, o)| o).filter(|o| !o.ok()).collect();
    assert!(failed.is_empty(), "{} ADDs failed, first: {:?}", failed.len(), failed.first());
    let mut handed = HashMap::new();
    collect(&results, &mut handed);
    assert_eq!(handed.len(), 8192);
    fleet.assert_consistent(&handed);
    macvlan_sample(&fleet);
    let t = std::time::Instant::now();
    del_all(&fleet, calls);
    eprintln!("8192 ADDs in {add_time:?}, 8192 DELs in {:?}", t.elapsed());
    fleet.assert_empty();
}

#[test]
fn leader_sigkilled_mid_burst_and_restarted() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    // A 1 s timeout against a 500 ms election timeout: ADDs in flight when
    // the leader dies may run out of time, so the code-11 path is exercised
    // too, not only the retry inside the deadline.
    let mut fleet = Fleet::new(1.0);
    // The scale run's shape: 16 nodes x 64 pods x 8 rails, 8,192 ADDs.
    let calls = fleet.calls(64);
    let kill_at = calls.len() / 3 + BURST / 2; // the middle of a burst
    let restart_at = kill_at + 4 * BURST;
    let mut killed = None;
    let mut results = Vec::new();
    let mut i = 0;
    for chunk in calls.chunks(BURST) {
        let mut pending = Vec::new();
        for c in chunk {
            if i == kill_at {
                let leader = fleet.cluster.leader();
                fleet.cluster.kill(leader);
                killed = Some(leader);
            }
            if i == restart_at {
                fleet.cluster.restart(killed.unwrap());
            }
            pending.push((c.clone(), fleet.begin("ADD", c)));
            i += 1;
        }
        results.extend(pending.into_iter().map(|(c, p)| (c, p.finish())));
    }
    fleet.cluster.wait_healthy();
    let mut handed = HashMap::new();
    collect(&results, &mut handed);
    let failed: Vec<&(Call, Out)> = results.iter().filter(|(_, o)| !o.ok()).collect();
    eprintln!("leader {killed:?} killed at ADD {kill_at}: {} of {} ADDs failed", failed.len(), results.len());
    let eps = fleet.endpoints();
    for (c, out) in &failed {
        assert_eq!(out.code(), 11, "an ADD failed with other than code 11: {out:?}");
        // The next operation on the node replays its journal: then nothing of the failed ADD is left.
        common::run("STATUS", &fleet.confs[c.node][c.rail], "", "").assert_ok("STATUS");
        let att = format!("/railcni/ipam/v1/nodes/node{}/att/rail{}/{}/{}/", c.node, c.rail, c.cid(), c.ifname());
        assert!(list(&eps, &att).is_empty(), "failed ADD {} {} left a record", c.cid(), c.ifname());
    }
    let retried = bursts(failed.iter().map(|(c, _)| c.clone()).collect(), BURST, |c| fleet.begin("ADD", c));
    for (_, out) in &retried {
        out.assert_ok("retried ADD");
    }
    collect(&retried, &mut handed);
    assert_eq!(handed.len(), calls.len());
    fleet.assert_consistent(&handed);
    del_all(&fleet, calls);
    fleet.assert_empty();
}

fn target_bin(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/debug").join(name);
    assert!(
        p.exists(),
        "{} is missing: build the workspace first (cargo build --workspace), as conformance/test.sh does",
        p.display()
    );
    p
}

/// Four pods of node 0 get their rail-0 address through railcni's macvlan
/// (exec'ing cluster-ipam from CNI_PATH) on a real interface in a real netns.
/// A failure here drops the namespaces (Drop) before the fleet's etcd.
fn macvlan_sample(fleet: &Fleet) {
    let macvlan = target_bin("macvlan");
    let bin_dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(common::BIN, bin_dir.path().join("cluster-ipam")).unwrap();
    std::os::unix::fs::symlink(&macvlan, bin_dir.path().join("macvlan")).unwrap();
    // The plugin runs in the test's netns, where etcd listens on loopback;
    // its master lives in the pod's netns (linkInContainer), so no link of
    // the real host is touched.
    let mut conf = fleet.confs[0][0].clone();
    conf["cniVersion"] = json!("1.1.0");
    conf["master"] = json!("cm0");
    conf["mode"] = json!("bridge");
    conf["linkInContainer"] = json!(true);
    let eps = fleet.endpoints();
    let mut seen = HashSet::new();
    for pod in 0..4 {
        let ns = Namespace::create(&common::unique("cipamp")).unwrap();
        add_veth_master(&ns, "cm0", "cm0p").unwrap();
        let cid = format!("macvlan-sample-{pod}");
        let call = |cmd: &str| {
            let mut child = Command::new(&macvlan)
                .env_clear()
                .env("CNI_COMMAND", cmd)
                .env("CNI_CONTAINERID", &cid)
                .env("CNI_NETNS", ns.path())
                .env("CNI_IFNAME", "net1")
                .env("CNI_PATH", bin_dir.path())
                .env("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=sample")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child.stdin.take().unwrap().write_all(conf.to_string().as_bytes()).unwrap();
            child.wait_with_output().unwrap()
        };
        let out = call("ADD");
        assert!(
            out.status.success(),
            "macvlan ADD: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let result: Value = serde_json::from_slice(&out.stdout).unwrap();
        let address = result["ips"][0]["address"].as_str().unwrap().to_string();
        let on_link = ns.global_addrs("net1");
        assert!(on_link.contains(&address), "{address} not on net1: {on_link:?}");
        assert!(seen.insert(address.clone()));
        let ip = address.split('/').next().unwrap();
        let rec = list(&eps, "/railcni/ipam/v1/nets/rail0/pools/10.100.0.0_16/addrs/")
            .into_iter()
            .find(|kv| kv.key.ends_with(&format!("/{ip}")))
            .expect("the sample's record");
        let rec: Record = serde_json::from_slice(&rec.value).unwrap();
        assert_eq!((rec.node.as_str(), rec.container_id.as_str()), ("node0", cid.as_str()));
        let out = call("DEL");
        assert!(out.status.success(), "macvlan DEL: {}", String::from_utf8_lossy(&out.stdout));
    }
}
