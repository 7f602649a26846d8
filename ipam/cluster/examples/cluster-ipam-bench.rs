//! cluster-ipam's benchmarks, alternating in one run against a 3-member
//! etcd on loopback (tmpfs data dirs) that this program starts and stops:
//!
//! - warm ADD+DEL p50: cluster-ipam vs railcni's host-local vs the reference host-local;
//! - the first ADD on a cold node (it claims a slice);
//! - peak RSS of one ADD (GNU time's %M) vs the reference host-local;
//! - 128 pods x 16 networks across 16 nodes in bursts of 32 concurrent execs.
//!
//! An example, not a binary target, so the image does not ship it. Run:
//! `cargo build --release --workspace && cargo run --release -p railcni-cluster-ipam --example cluster-ipam-bench`

use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use testkit::etcd::EtcdCluster;

const REFERENCE_HOST_LOCAL: &str = "/usr/lib/cni/host-local";

fn unique(tag: &str) -> String {
    format!("{tag}{}", std::process::id())
}

fn release_bin(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release").join(name);
    if !p.exists() {
        eprintln!("{} is missing: cargo build --release --workspace first", p.display());
        std::process::exit(2);
    }
    p
}

fn spawn(bin: &Path, wrapper: Option<&str>, cmd: &str, conf: &Value, cid: &str, ifname: &str) -> Child {
    let mut c = match wrapper {
        Some(w) => {
            let mut c = Command::new("/usr/bin/time");
            c.args(["-f", w]).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    c.env_clear()
        .env("CNI_COMMAND", cmd)
        .env("CNI_CONTAINERID", cid)
        .env("CNI_NETNS", "/var/run/netns/bench-none")
        .env("CNI_IFNAME", ifname)
        .env("CNI_PATH", bin.parent().unwrap())
        .env("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=p")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("exec");
    child.stdin.take().unwrap().write_all(conf.to_string().as_bytes()).unwrap();
    child
}

fn exec(bin: &Path, cmd: &str, conf: &Value, cid: &str) -> Duration {
    let t = Instant::now();
    let out = spawn(bin, None, cmd, conf, cid, "net1").wait_with_output().unwrap();
    let d = t.elapsed();
    assert!(out.status.success(), "{} {cmd}: {}", bin.display(), String::from_utf8_lossy(&out.stdout));
    d
}

/// Peak RSS in KiB of one run, from GNU time's last stderr line.
fn rss(bin: &Path, conf: &Value, cid: &str) -> u64 {
    let out = spawn(bin, Some("%M"), "ADD", conf, cid, "net1").wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).lines().last().and_then(|l| l.trim().parse().ok()).unwrap_or(0)
}

fn p50(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

struct NodeDir {
    dir: tempfile::TempDir,
}

impl NodeDir {
    fn conf(&self, name: &str, endpoints: &[String], ipam: Value) -> Value {
        let mut i = json!({"type": "cluster-ipam", "node_name": name, "etcd_endpoints": endpoints,
            "state_dir": self.dir.path().join(name), "configuration_path": self.dir.path().join("none.json")});
        std::fs::write(self.dir.path().join("none.json"), "{}").unwrap();
        for (k, v) in ipam.as_object().unwrap() {
            i[k] = v.clone();
        }
        json!({"cniVersion": "1.0.0", "name": "bench", "type": "macvlan", "ipam": i})
    }
}

fn main() {
    let iterations: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let cipam = release_bin("cluster-ipam");
    let host_local = release_bin("host-local");
    let reference = PathBuf::from(REFERENCE_HOST_LOCAL);
    let cluster = EtcdCluster::start();
    let eps = cluster.endpoints();
    let nodes = NodeDir { dir: tempfile::tempdir().unwrap() };
    let data = tempfile::tempdir().unwrap();
    let hl_conf = |dir: &str| {
        json!({"cniVersion": "1.0.0", "name": "bench", "type": "host-local",
            "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.90.0.0/16"}]], "dataDir": data.path().join(dir)}})
    };
    let (hl_railcni, hl_reference) = (hl_conf("railcni"), hl_conf("reference"));
    let warm = nodes.conf("warm", &eps, json!({"range": "10.91.0.0/16", "network_name": "bench"}));
    // Warm the node: its slice is claimed before timing starts.
    exec(&cipam, "ADD", &warm, "warmup");

    // (a) warm ADD+DEL, the three in rotating order so drift hits all alike.
    let contenders: [(&str, &Path, &Value); 3] = [
        ("cluster-ipam", &cipam, &warm),
        ("host-local (railcni)", &host_local, &hl_railcni),
        ("host-local (reference)", &reference, &hl_reference),
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); 3];
    let mut cold = Vec::new();
    let mut rss_c = Vec::new();
    let mut rss_r = Vec::new();
    for i in 0..iterations {
        for k in 0..3 {
            let j = (i + k) % 3;
            let (_, bin, conf) = contenders[j];
            let cid = format!("a{i}");
            let d = exec(bin, "ADD", conf, &cid) + exec(bin, "DEL", conf, &cid);
            times[j].push(d);
        }
        // (b) and (c), alternating with (a): a cold node's first ADD, and peak RSS.
        if i % 4 == 0 {
            let node = format!("cold{i}");
            let conf = nodes.conf(&node, &eps, json!({"range": "10.91.0.0/16", "network_name": "bench"}));
            cold.push(exec(&cipam, "ADD", &conf, "first"));
            exec(&cipam, "DEL", &conf, "first");
            rss_c.push(rss(&cipam, &warm, "rss"));
            exec(&cipam, "DEL", &warm, "rss");
            rss_r.push(rss(&reference, &hl_reference, "rss"));
            exec(&reference, "DEL", &hl_reference, "rss");
        }
    }
    let mut p = Vec::new();
    for (j, (name, _, _)) in contenders.iter().enumerate() {
        let v = p50(&mut times[j]);
        p.push(v);
        println!("warm ADD+DEL p50, {name}: {} ({} runs)", ms(v), times[j].len());
    }
    println!(
        "  cluster-ipam / railcni host-local: {:.2}x; / reference host-local: {:.2}x (target <= 2x)",
        p[0].as_secs_f64() / p[1].as_secs_f64(),
        p[0].as_secs_f64() / p[2].as_secs_f64()
    );
    let cold_max = *cold.iter().max().unwrap();
    println!(
        "cold node first ADD (claims a slice): p50 {}, max {} ({} nodes; target <= 20 ms)",
        ms(p50(&mut cold)),
        ms(cold_max),
        cold.len()
    );
    rss_c.sort();
    rss_r.sort();
    println!(
        "peak RSS of an ADD: cluster-ipam max {} KiB (median {}), reference host-local max {} KiB (median {}) ({} runs each)",
        rss_c[rss_c.len() - 1],
        rss_c[rss_c.len() / 2],
        rss_r[rss_r.len() - 1],
        rss_r[rss_r.len() / 2],
        rss_c.len()
    );

    // (d) 128 pods x 16 networks across 16 nodes, in bursts of 32.
    let fleet: Vec<Vec<Value>> = (0..16)
        .map(|n| {
            (0..16)
                .map(|r| {
                    nodes.conf(
                        &format!("fleet{n}"),
                        &eps,
                        json!({"range": format!("10.{}.0.0/16", 110 + r), "network_name": format!("fleet{r}")}),
                    )
                })
                .collect()
        })
        .collect();
    let mut calls = Vec::new();
    for pod in 0..128 {
        for r in 0..16 {
            calls.push((pod % 16, pod, r));
        }
    }
    let burst = |cmd: &str| {
        let t = Instant::now();
        for chunk in calls.chunks(32) {
            let children: Vec<Child> = chunk
                .iter()
                .map(|(n, pod, r)| spawn(&cipam, None, cmd, &fleet[*n][*r], &format!("pod{pod}"), &format!("net{r}")))
                .collect();
            for c in children {
                let out = c.wait_with_output().unwrap();
                assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stdout));
            }
        }
        t.elapsed()
    };
    let add = burst("ADD");
    let del = burst("DEL");
    println!(
        "128 pods x 16 networks ({} ADDs) across 16 nodes, bursts of 32: ADD {:.2} s, DEL {:.2} s (target < 60 s)",
        calls.len(),
        add.as_secs_f64(),
        del.as_secs_f64()
    );
    drop(cluster);
    let _ = unique("");
}
