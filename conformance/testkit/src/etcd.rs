//! A 3-member etcd cluster on loopback, per test: free ports, a temp data
//! dir (on tmpfs when there is one: the tests measure the plugin, not the
//! disk), fast elections. Drop kills exactly the processes it started.
//!
//! For the tests of an etcd-backed IPAM (cluster-ipam's own and the
//! conformance suite's profile). Needs Debian's `etcd-server` and
//! `etcd-client` (`etcd`, `etcdctl`).

use serde_json::Value;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct EtcdCluster {
    dir: tempfile::TempDir,
    members: Vec<Member>,
    token: String,
    /// Client TLS with client certificates (`start_tls`).
    tls: Option<Tls>,
    /// Once auth is on (`enable_auth`): the root password this handle's etcdctl logs in with.
    root_password: Option<String>,
}

/// PEM files made by openssl for one test: a CA, the members' server
/// certificate (IP SAN 127.0.0.1) and a client certificate.
#[derive(Clone)]
pub struct Tls {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl Tls {
    fn make(dir: &std::path::Path) -> Tls {
        let f = |n: &str| dir.join(n);
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=railcni-etcd-test-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        std::fs::write(f("san.ext"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n").unwrap();
        for who in ["server", "client"] {
            openssl(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                &format!("/CN=railcni-etcd-{who}"),
                "-keyout",
                &format!("{who}.key"),
                "-out",
                &format!("{who}.csr"),
            ]);
            openssl(&[
                "x509",
                "-req",
                "-in",
                &format!("{who}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                "san.ext",
                "-out",
                &format!("{who}.pem"),
            ]);
        }
        Tls {
            ca: f("ca.pem"),
            server_cert: f("server.pem"),
            server_key: f("server.key"),
            client_cert: f("client.pem"),
            client_key: f("client.key"),
        }
    }
}

struct Member {
    name: String,
    client: u16,
    peer: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl EtcdCluster {
    pub fn start() -> EtcdCluster {
        Self::start_with(false)
    }

    /// Clients must speak TLS and show a certificate of the test's CA.
    pub fn start_tls() -> EtcdCluster {
        Self::start_with(true)
    }

    pub fn tls(&self) -> Option<&Tls> {
        self.tls.as_ref()
    }

    fn start_with(tls: bool) -> EtcdCluster {
        let base = if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" };
        let dir = tempfile::Builder::new().prefix("railcni-etcd-").tempdir_in(base).unwrap();
        let token = crate::unique_name("etcd-tok");
        let members = (0..3)
            .map(|i| Member { name: format!("m{i}"), client: free_port(), peer: free_port(), child: None })
            .collect();
        let tls = tls.then(|| Tls::make(dir.path()));
        let mut c = EtcdCluster { dir, members, token, tls, root_password: None };
        for i in 0..3 {
            c.spawn(i);
        }
        c.wait_healthy();
        c
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The client URLs, one per member.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| format!("{}://127.0.0.1:{}", self.scheme(), m.client)).collect()
    }

    /// etcdctl with the cluster's client TLS flags, if any.
    fn ctl(&self) -> Command {
        let mut c = Command::new("etcdctl");
        c.env("ETCDCTL_API", "3");
        if let Some(t) = &self.tls {
            c.arg("--cacert").arg(&t.ca).arg("--cert").arg(&t.client_cert).arg("--key").arg(&t.client_key);
        }
        if let Some(p) = &self.root_password {
            c.arg(format!("--user=root:{p}"));
        }
        c
    }

    fn spawn(&mut self, i: usize) {
        let initial: Vec<String> =
            self.members.iter().map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer)).collect();
        let m = &self.members[i];
        let data: PathBuf = self.dir.path().join(&m.name);
        let log = std::fs::File::create(self.dir.path().join(format!("{}.log", m.name))).unwrap();
        let client = format!("{}://127.0.0.1:{}", self.scheme(), m.client);
        let mut cmd = Command::new("etcd");
        if let Some(t) = &self.tls {
            cmd.arg("--cert-file").arg(&t.server_cert).arg("--key-file").arg(&t.server_key);
            cmd.arg("--trusted-ca-file").arg(&t.ca).arg("--client-cert-auth");
        }
        let child = cmd
            .args(["--name", &m.name, "--data-dir"])
            .arg(&data)
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &format!("http://127.0.0.1:{}", m.peer)])
            .args(["--initial-advertise-peer-urls", &format!("http://127.0.0.1:{}", m.peer)])
            .args(["--initial-cluster", &initial.join(",")])
            .args(["--initial-cluster-token", &self.token])
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .args(["--log-level", "error", "--logger", "zap"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("etcd (Debian etcd-server) must be installed");
        self.members[i].child = Some(child);
    }

    /// Until every running member answers with a leader (60 s at most: a
    /// healthy cluster answers at once, but a test file starts several
    /// 3-member clusters at a time, and on 2 loaded cores an election has
    /// taken more than 20 s).
    pub fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let up: Vec<String> = self
                .members
                .iter()
                .filter(|m| m.child.is_some())
                .map(|m| format!("{}://127.0.0.1:{}", self.scheme(), m.client))
                .collect();
            if self.status(&up).map(|s| s.len() == up.len() && s.iter().all(|(_, l)| *l != 0)).unwrap_or(false) {
                return;
            }
            assert!(Instant::now() < deadline, "etcd cluster did not become healthy; logs in {:?}", self.dir.path());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// (member id, leader id) per endpoint that answered.
    fn status(&self, endpoints: &[String]) -> Option<Vec<(u64, u64)>> {
        let out = self
            .ctl()
            .args(["--endpoints", &endpoints.join(","), "--command-timeout=2s", "endpoint", "status", "-w", "json"])
            .output()
            .ok()?;
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(
            v.as_array()?
                .iter()
                .map(|e| {
                    let s = &e["Status"];
                    (s["header"]["member_id"].as_u64().unwrap_or(0), s["leader"].as_u64().unwrap_or(0))
                })
                .collect(),
        )
    }

    /// Run etcdctl against the cluster; panics with its stderr on failure.
    pub fn etcdctl(&self, args: &[&str]) -> String {
        let out = self
            .ctl()
            .args(["--endpoints", &self.endpoints().join(","), "--command-timeout=5s"])
            .args(args)
            .output()
            .expect("etcdctl (Debian etcd-client)");
        assert!(out.status.success(), "etcdctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Turn on etcd authentication: a `root` user (with the root role) gets
    /// `root_password`, and this handle's `etcdctl` logs in as root from
    /// then on. With `start_tls`, a client that shows a certificate and no
    /// password is the user named by the certificate's CN
    /// (`railcni-etcd-client`).
    pub fn enable_auth(&mut self, root_password: &str) {
        self.etcdctl(&["user", "add", &format!("root:{root_password}")]);
        self.etcdctl(&["user", "grant-role", "root", "root"]);
        self.etcdctl(&["auth", "enable"]);
        self.root_password = Some(root_password.to_string());
    }

    /// A user whose only permission is `readwrite` on the keys under `prefix`
    /// (a role of the same name as the user), as an operator sets one up
    /// for a node: least privilege.
    pub fn add_prefix_user(&self, user: &str, password: &str, prefix: &str) {
        self.etcdctl(&["role", "add", user]);
        self.etcdctl(&["role", "grant-permission", "--prefix=true", user, "readwrite", prefix]);
        self.etcdctl(&["user", "add", &format!("{user}:{password}")]);
        self.etcdctl(&["user", "grant-role", user, user]);
    }

    /// etcdctl as a given client, not as root: the CA if TLS is on, the
    /// certificate pair `cert` if given, the login `user:password` if given.
    /// Its output, success or not (for tests that expect a refusal).
    pub fn etcdctl_as(
        &self,
        cert: Option<(&std::path::Path, &std::path::Path)>,
        login: Option<(&str, &str)>,
        args: &[&str],
    ) -> std::process::Output {
        let mut c = Command::new("etcdctl");
        c.env("ETCDCTL_API", "3");
        if let Some(t) = &self.tls {
            c.arg("--cacert").arg(&t.ca);
        }
        if let Some((crt, key)) = cert {
            c.arg("--cert").arg(crt).arg("--key").arg(key);
        }
        if let Some((u, p)) = login {
            c.arg(format!("--user={u}:{p}"));
        }
        c.args(["--endpoints", &self.endpoints().join(","), "--command-timeout=5s"])
            .args(args)
            .output()
            .expect("etcdctl (Debian etcd-client)")
    }

    /// The index of the current leader.
    pub fn leader(&self) -> usize {
        for (i, m) in self.members.iter().enumerate() {
            if m.child.is_none() {
                continue;
            }
            let ep = format!("{}://127.0.0.1:{}", self.scheme(), m.client);
            if let Some(s) = self.status(&[ep])
                && let Some((id, leader)) = s.first()
                && id == leader
            {
                return i;
            }
        }
        panic!("no leader");
    }

    /// SIGKILL one member.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self, i: usize) {
        self.spawn(i);
    }

    pub fn stop_all(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }

    pub fn start_all(&mut self) {
        for i in 0..self.members.len() {
            if self.members[i].child.is_none() {
                self.spawn(i);
            }
        }
        self.wait_healthy();
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        self.stop_all();
    }
}
