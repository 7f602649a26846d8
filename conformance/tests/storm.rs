//! Load: what a node does when many pods start and stop at once.
//!
//! - A storm: 64 concurrent ADDs into a network whose bridge does not exist
//!   yet, then 64 concurrent DELs, repeated (5 rounds here, 20 in the
//!   `#[ignore]`d long run): zero failures, unique addresses, nothing left.
//! - Churn: 1,000 pods added and deleted over 4 workers, interleaved, with
//!   GC calls listing the live attachments mixed in: zero leaks, no address
//!   given twice, and no reservation released while its pod lives.
//!
//! The plugins are exec'd directly (cniVersion 1.1.0, which GC needs) in
//! the lab's host namespace, the way a runtime runs them.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use testkit::footprint::{host_facts, store_leftovers};
use testkit::lab::Lab;
use testkit::netns::{Namespace, skip_without_root};
use testkit::rng::Rng;
use testkit::{Binary, Invocation, Outcome};

const V: &str = "1.1.0";

fn skip() -> bool {
    skip_without_root("the load tests")
}

struct Net {
    lab: Lab,
    bridge: Binary,
    conf: Value,
}

impl Net {
    fn new(ranges: Value) -> Net {
        let lab = Lab::ours("bridge");
        let obj = lab.bridge_plugin(json!({ "isGateway": true, "ipMasq": true }), lab.host_local(ranges));
        let conf = lab.plugin_conf(V, obj);
        Net { lab, bridge: Binary::ours("bridge"), conf }
    }

    fn run(&self, inv: Invocation) -> Outcome {
        self.lab.exec_plugin(&self.bridge, &inv.timeout(Duration::from_secs(60)))
    }

    fn add(&self, cid: &str, ns: &Namespace) -> Outcome {
        self.run(Invocation::add().attachment(cid, "eth0").set("CNI_NETNS", &ns.path_str()).stdin_json(&self.conf))
    }

    fn del(&self, cid: &str, ns: &Namespace) -> Outcome {
        self.run(Invocation::del().attachment(cid, "eth0").set("CNI_NETNS", &ns.path_str()).stdin_json(&self.conf))
    }

    fn gc(&self, live: &[String]) -> Outcome {
        let mut c = self.conf.clone();
        c["cni.dev/valid-attachments"] =
            live.iter().map(|cid| json!({ "containerID": cid, "ifname": "eth0" })).collect();
        self.run(Invocation::gc().stdin_json(&c))
    }

    /// One pod in and out, so that what outlives attachments (the bridge,
    /// the masquerade table) exists before a baseline is taken.
    fn warm_up(&self) {
        let ns = Namespace::create(&format!("{}-warm", self.lab.prefix)).expect("netns");
        self.add("warm", &ns).assert_ok_json();
        self.del("warm", &ns).assert_ok();
    }

    fn host(&self) -> Vec<String> {
        host_facts(&self.lab.host, &[&self.lab.bridge])
    }

    fn store(&self) -> Vec<String> {
        store_leftovers(&self.lab.ipam_dir().join(&self.lab.net))
    }

    fn reservations(&self) -> BTreeMap<String, String> {
        self.lab.reservations()
    }
}

/// Every address of an ADD result, without the prefix length.
fn addresses(result: &Value) -> Vec<String> {
    let ips = result["ips"].as_array().cloned().unwrap_or_default();
    ips.iter().filter_map(|ip| ip["address"].as_str()).map(|a| a.split('/').next().unwrap_or(a).to_string()).collect()
}

fn storm(rounds: usize) {
    if skip() {
        return;
    }
    const PODS: usize = 64;
    let mut net = Net::new(json!([[{ "subnet": "10.98.0.0/22" }], [{ "subnet": "fd98::/64" }]]));
    let pods: Vec<usize> = (0..PODS).map(|_| net.lab.add_pod()).collect();
    net.warm_up();
    let baseline = net.host();
    for round in 0..rounds {
        // The first ADDs of the round race to create the bridge.
        let _ = net.lab.host.ip(&["link", "del", &net.lab.bridge]);
        let started = Instant::now();
        let adds: Vec<Outcome> = std::thread::scope(|s| {
            let net = &net;
            let hs: Vec<_> = pods.iter().map(|&p| s.spawn(move || net.add(&net.lab.cid(p), net.lab.pod(p)))).collect();
            hs.into_iter().map(|h| h.join().expect("ADD thread")).collect()
        });
        let add_time = started.elapsed();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (p, out) in pods.iter().zip(&adds) {
            let result = out.check_ok_json().unwrap_or_else(|e| panic!("round {round}: ADD of pod {p}: {e}"));
            for a in addresses(&result) {
                if let Some(other) = seen.insert(a.clone(), *p) {
                    panic!("round {round}: pods {other} and {p} both got {a}");
                }
            }
        }
        assert_eq!(seen.len(), 2 * PODS, "round {round}: one v4 and one v6 address per pod");
        assert_eq!(net.reservations().len(), 2 * PODS, "round {round}: reservations");
        let started = Instant::now();
        let dels: Vec<Outcome> = std::thread::scope(|s| {
            let net = &net;
            let hs: Vec<_> = pods.iter().map(|&p| s.spawn(move || net.del(&net.lab.cid(p), net.lab.pod(p)))).collect();
            hs.into_iter().map(|h| h.join().expect("DEL thread")).collect()
        });
        let del_time = started.elapsed();
        for (p, out) in pods.iter().zip(&dels) {
            out.check_ok().unwrap_or_else(|e| panic!("round {round}: DEL of pod {p}: {e}"));
            let left = testkit::footprint::pod_leftovers(net.lab.pod(*p));
            assert!(left.is_empty(), "round {round}: pod {p} keeps {left:?}");
        }
        assert_eq!(net.host(), baseline, "round {round}: the host keeps state");
        assert_eq!(net.store(), Vec::<String>::new(), "round {round}: the store keeps files");
        eprintln!("storm round {round}: {PODS} ADDs in {add_time:?}, {PODS} DELs in {del_time:?}");
    }
}

#[test]
fn storm_of_64_adds_and_dels_into_a_new_bridge() {
    storm(5);
}

#[test]
#[ignore = "long run: 20 rounds (cargo test --test storm -- --ignored)"]
fn storm_of_64_adds_and_dels_20_rounds() {
    storm(20);
}

/// Shared state of the churn: which pods live, and their addresses.
#[derive(Default)]
struct Live {
    /// Container ID → addresses (empty while its ADD runs).
    pods: BTreeMap<String, Vec<String>>,
}

fn churn(total: usize) {
    if skip() {
        return;
    }
    const WORKERS: usize = 4;
    const MAX_LIVE: usize = 6;
    let net = Net::new(json!([[{ "subnet": "10.99.0.0/24" }]]));
    net.warm_up();
    let baseline = net.host();
    let live = Mutex::new(Live::default());
    let (_, seed) = Rng::from_env();
    eprintln!("churn seed {seed}");
    let started = Instant::now();
    let stats: Vec<(usize, usize, Vec<String>)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..WORKERS)
            .map(|w| {
                let (net, live) = (&net, &live);
                let mut rng = Rng::new(seed.wrapping_add(w as u64));
                s.spawn(move || worker(net, live, &mut rng, w, total / WORKERS, MAX_LIVE))
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("worker")).collect()
    });
    let gcs: usize = stats.iter().map(|s| s.1).sum();
    let failures: Vec<String> = stats.into_iter().flat_map(|s| s.2).collect();
    assert!(failures.is_empty(), "seed {seed}:\n{}", failures.join("\n"));
    assert_eq!(net.host(), baseline, "the host keeps state after the churn");
    assert_eq!(net.store(), Vec::<String>::new(), "the store keeps files after the churn");
    eprintln!("churn: {total} pods over {WORKERS} workers, {gcs} GCs, in {:?}", started.elapsed());
}

/// One worker: adds its `pods` pods, keeping at most `max_live` at a time,
/// deleting a random one otherwise, and now and then a GC listing every live
/// attachment. Returns (pods done, GCs run, failures).
fn worker(
    net: &Net,
    live: &Mutex<Live>,
    rng: &mut Rng,
    w: usize,
    pods: usize,
    max_live: usize,
) -> (usize, usize, Vec<String>) {
    let mut mine: Vec<(String, Namespace)> = Vec::new();
    let mut failures = Vec::new();
    let (mut next, mut gcs) = (0, 0);
    while (next < pods || !mine.is_empty()) && failures.len() < 5 {
        if rng.below(20) == 0 {
            // The runtime lists every attachment it knows, including those
            // whose ADD is running, and starts no new one until GC returns.
            let l = live.lock().expect("live");
            let listed: Vec<String> = l.pods.keys().cloned().collect();
            let out = net.gc(&listed);
            drop(l);
            if let Err(e) = out.check_ok_silent() {
                failures.push(format!("GC: {e}"));
            }
            gcs += 1;
        }
        let add = next < pods && (mine.is_empty() || (mine.len() < max_live && rng.coin()));
        if add {
            let cid = format!("{}-w{w}-{next}", net.lab.prefix);
            next += 1;
            let ns = Namespace::create(&format!("{}-w{w}-{}", net.lab.prefix, next % 1000)).expect("netns");
            live.lock().expect("live").pods.insert(cid.clone(), Vec::new());
            match net.add(&cid, &ns).check_ok_json() {
                Ok(result) => {
                    let ips = addresses(&result);
                    let mut l = live.lock().expect("live");
                    for (other, theirs) in &l.pods {
                        if let Some(ip) = ips.iter().find(|ip| theirs.contains(ip)) {
                            failures.push(format!("{cid} got {ip}, which live pod {other} holds"));
                        }
                    }
                    l.pods.insert(cid.clone(), ips);
                }
                Err(e) => failures.push(format!("ADD {cid}: {e}")),
            }
            mine.push((cid, ns));
        } else {
            let (cid, ns) = mine.swap_remove(rng.below(mine.len() as u64) as usize);
            let ips = live.lock().expect("live").pods.get(&cid).cloned().unwrap_or_default();
            let reservations = net.reservations();
            for ip in &ips {
                if reservations.get(ip).map(String::as_str) != Some(&format!("{cid}\r\neth0")) {
                    let now = reservations.get(ip);
                    failures.push(format!("{cid} lives, but its reservation of {ip} is gone (now {now:?})"));
                }
            }
            if let Err(e) = net.del(&cid, &ns).check_ok() {
                failures.push(format!("DEL {cid}: {e}"));
            }
            live.lock().expect("live").pods.remove(&cid);
        }
    }
    (next, gcs, failures)
}

#[test]
fn churn_of_1000_pods_over_4_workers_with_gc() {
    churn(1000);
}
