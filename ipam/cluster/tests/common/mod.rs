//! Test helpers: a 3-member etcd cluster on loopback started per test
//! (the test kit's, `testkit::etcd`), simulated nodes (a settings file and a state dir each), and running the
//! `cluster-ipam` binary the way a runtime does.
#![allow(dead_code)]

use cluster_ipam::config::EtcdSettings;
use cluster_ipam::etcd::Etcd;
use cluster_ipam::store::{Kv, Store};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
pub use testkit::etcd::EtcdCluster;

pub const BIN: &str = env!("CARGO_BIN_EXE_cluster-ipam");
pub const ADMIN: &str = env!("CARGO_BIN_EXE_railcni-ipam");

/// Write a file with mode 0600.
pub fn write_private(path: &Path, data: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, data).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// The user the node logs in as: the CN of the test kit's client certificate,
/// so that the certificate alone also maps to it.
pub const NODE_USER: &str = "railcni-etcd-client";
pub const NODE_PASSWORD: &str = "node-pw-7f3a9c";

/// A 3-member cluster with client-certificate TLS and auth on: root, and
/// [`NODE_USER`] limited to readwrite on `/railcni/` (least privilege).
pub fn secure_cluster() -> EtcdCluster {
    let mut c = EtcdCluster::start_tls();
    c.enable_auth("root-pw-1e2d");
    c.add_prefix_user(NODE_USER, NODE_PASSWORD, "/railcni/");
    c
}

impl Node {
    /// A node of `secure_cluster`: its own copies of the client certificate
    /// and key (0600), its login and password file (0600) in its settings.
    pub fn secure(name: &str, cluster: &EtcdCluster) -> Node {
        let node = Node::new(name, &cluster.endpoints());
        let tls = cluster.tls().unwrap();
        let (cert, key, pw) = (node.path("client.pem"), node.path("client.key"), node.path("etcd-password"));
        std::fs::copy(&tls.client_cert, &cert).unwrap();
        write_private(&key, &std::fs::read(&tls.client_key).unwrap());
        write_private(&pw, format!("{NODE_PASSWORD}\n").as_bytes());
        node.amend_settings(json!({
            "etcd_ca_cert_file": tls.ca, "etcd_cert_file": cert, "etcd_key_file": key,
            "etcd_username": NODE_USER, "etcd_password_file": pw,
        }));
        node
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Run `railcni-ipam --config <this node's settings> args...`.
    pub fn admin(&self, args: &[&str], stdin: &str) -> AdminOut {
        let mut c = Command::new(ADMIN);
        c.arg("--config").arg(self.settings()).args(args);
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().expect("exec railcni-ipam");
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        AdminOut {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The crate's own store, connected the way this node's settings say.
    pub fn store(&self) -> Etcd {
        let s = cluster_ipam::settings::load(&self.settings()).unwrap();
        Etcd::new(s.etcd, Duration::from_secs(20)).unwrap()
    }
}

#[derive(Debug)]
pub struct AdminOut {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl AdminOut {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// A simulated node: its own name, settings file and state dir.
pub struct Node {
    pub name: String,
    pub dir: tempfile::TempDir,
}

impl Node {
    pub fn new(name: &str, endpoints: &[String]) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let settings = json!({
            "node_name": name,
            "etcd_endpoints": endpoints,
            "state_dir": dir.path().join("state"),
        });
        let node = Node { name: name.to_string(), dir };
        node.write_settings(&settings);
        node
    }

    /// The settings file, private to its owner as the plugin demands.
    pub fn write_settings(&self, settings: &Value) {
        write_private(&self.settings(), settings.to_string().as_bytes());
    }

    /// Add keys to the settings file.
    pub fn amend_settings(&self, keys: Value) {
        let mut s: Value = serde_json::from_slice(&std::fs::read(self.settings()).unwrap()).unwrap();
        for (k, v) in keys.as_object().unwrap() {
            s[k] = v.clone();
        }
        self.write_settings(&s);
    }

    pub fn settings(&self) -> PathBuf {
        self.dir.path().join("settings.json")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn journal(&self) -> PathBuf {
        self.state_dir().join("journal")
    }

    /// A network config for this node: `ipam` merged over the defaults.
    pub fn conf(&self, name: &str, ipam: Value) -> Value {
        let mut i = json!({"type": "cluster-ipam", "configuration_path": self.settings(), "timeout": 5});
        for (k, v) in ipam.as_object().unwrap() {
            i[k] = v.clone();
        }
        json!({"cniVersion": "1.1.0", "name": name, "type": "macvlan", "ipam": i})
    }
}

/// What one exec printed and how it ended.
#[derive(Debug)]
pub struct Out {
    pub status: std::process::ExitStatus,
    pub stdout: Value,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.status.success()
    }

    pub fn code(&self) -> u64 {
        self.stdout["code"].as_u64().unwrap_or(0)
    }

    pub fn msg(&self) -> &str {
        self.stdout["msg"].as_str().unwrap_or_default()
    }

    pub fn ips(&self) -> Vec<String> {
        self.stdout["ips"]
            .as_array()
            .map(|a| a.iter().map(|i| i["address"].as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    }

    pub fn assert_ok(&self, what: &str) {
        assert!(self.ok(), "{what}: {self:?}");
    }
}

/// One CNI call, started: `finish` collects it. Lets a test keep many in flight.
pub struct Pending {
    child: Child,
    started: std::time::Instant,
}

pub fn start(cmd: &str, conf: &Value, cid: &str, ifname: &str, env: &[(&str, &str)]) -> Pending {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("CNI_COMMAND", cmd)
        .env("CNI_CONTAINERID", cid)
        .env("CNI_NETNS", "/var/run/netns/cipam-none")
        .env("CNI_IFNAME", ifname)
        .env("CNI_PATH", Path::new(BIN).parent().unwrap())
        .env("CNI_ARGS", format!("IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=pod-{cid}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if matches!(cmd, "GC" | "STATUS") {
        c.env("CNI_CONTAINERID", "").env("CNI_IFNAME", "").env("CNI_NETNS", "");
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let started = std::time::Instant::now();
    let mut child = c.spawn().expect("exec cluster-ipam");
    child.stdin.take().unwrap().write_all(conf.to_string().as_bytes()).unwrap();
    Pending { child, started }
}

impl Pending {
    pub fn finish(self) -> Out {
        let out = self.child.wait_with_output().unwrap();
        Out {
            status: out.status,
            stdout: serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: self.started.elapsed(),
        }
    }
}

pub fn run(cmd: &str, conf: &Value, cid: &str, ifname: &str) -> Out {
    start(cmd, conf, cid, ifname, &[]).finish()
}

/// Run `calls` in bursts of `width` concurrent execs, in order.
pub fn bursts<T>(calls: Vec<T>, width: usize, mut begin: impl FnMut(&T) -> Pending) -> Vec<(T, Out)> {
    let mut results = Vec::with_capacity(calls.len());
    let mut calls = calls.into_iter().peekable();
    while calls.peek().is_some() {
        let batch: Vec<(T, Pending)> = calls
            .by_ref()
            .take(width)
            .map(|c| {
                let p = begin(&c);
                (c, p)
            })
            .collect();
        results.extend(batch.into_iter().map(|(c, p)| (c, p.finish())));
    }
    results
}

/// The crate's own store, to read back what the binary wrote.
pub fn store(endpoints: &[String]) -> Etcd {
    let settings = EtcdSettings {
        endpoints: endpoints.to_vec(),
        ca_cert_file: None,
        cert_file: None,
        key_file: None,
        username: None,
        password_file: None,
    };
    Etcd::new(settings, Duration::from_secs(20)).unwrap()
}

pub fn list(endpoints: &[String], prefix: &str) -> Vec<Kv> {
    store(endpoints).list(prefix, false).unwrap()
}

/// Unique per test process and call, for names in etcd, netns and links.
pub fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{tag}{}x{}", std::process::id() % 100000, N.fetch_add(1, Ordering::SeqCst))
}
