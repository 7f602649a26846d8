//! `railcni-install` run as the DaemonSet runs it, against a temporary root
//! directory standing in for the node's `/opt/cni/bin` and `/etc/cni/net.d`.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use tempfile::TempDir;

const INSTALLER: &str = env!("CARGO_BIN_EXE_railcni-install");
const CONFLIST: &str = r#"{"cniVersion":"1.0.0","name":"railcni","plugins":[{"type":"bridge","bridge":"cni0"}]}"#;

/// A node root: `src` (the image's plugins), `opt/cni/bin`, `etc/cni/net.d`.
struct Node {
    tmp: TempDir,
}

impl Node {
    fn new() -> Node {
        let tmp = tempfile::Builder::new().prefix("railcni-install-").tempdir().expect("temp dir");
        fs::create_dir(tmp.path().join("src")).expect("mkdir src");
        Node { tmp }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    fn bin(&self) -> PathBuf {
        self.path("opt/cni/bin")
    }

    fn net_d(&self) -> PathBuf {
        self.path("etc/cni/net.d")
    }

    /// Puts a plugin into the image's source dir.
    fn plugin(&self, name: &str, bytes: &[u8]) {
        fs::write(self.path("src").join(name), bytes).expect("write plugin");
    }

    fn conflist(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        fs::write(&p, text).expect("write conflist");
        p
    }

    fn cmd(&self, verb: &str, extra: &[&str]) -> Command {
        let mut c = Command::new(INSTALLER);
        c.arg(verb).arg("--src").arg(self.path("src")).arg("--bin-dir").arg(self.bin());
        c.arg("--conf-dir").arg(self.net_d()).args(extra);
        c
    }

    /// Runs the installer with `--once`; returns its stderr (the per-file log).
    #[track_caller]
    fn run_ok(&self, verb: &str, extra: &[&str]) -> String {
        let out = self.cmd(verb, extra).arg("--once").output().expect("run railcni-install");
        assert!(out.status.success(), "{verb} {extra:?} failed: {}", describe(&out));
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// The visible names in `dir` (what a runtime could exec).
    fn names(&self, dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        v.sort();
        v
    }
}

fn describe(out: &Output) -> String {
    format!(
        "{} stdout={:?} stderr={:?}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn installs_skips_unchanged_and_replaces_changed() {
    let node = Node::new();
    node.plugin("bridge", b"bridge v1");
    node.plugin("macvlan", b"macvlan v1");
    node.plugin(".hidden", b"not a plugin");
    let conf = node.conflist("90-railcni.conflist", CONFLIST);
    let conf = conf.to_str().unwrap();

    let log = node.run_ok("install", &["--conflist", conf]);
    assert_eq!(node.names(&node.bin()), ["bridge", "macvlan"], "{log}");
    assert_eq!(fs::read(node.bin().join("bridge")).unwrap(), b"bridge v1");
    assert_eq!(fs::metadata(node.bin().join("macvlan")).unwrap().permissions().mode() & 0o7777, 0o755);
    assert_eq!(fs::read_to_string(node.net_d().join("90-railcni.conflist")).unwrap(), CONFLIST);
    assert_eq!(fs::metadata(node.net_d().join("90-railcni.conflist")).unwrap().permissions().mode() & 0o777, 0o644);
    assert_eq!(log.matches("railcni-install: installed").count(), 3, "{log}");

    // Unchanged files are not rewritten: same inode, and the log says so.
    let inode = fs::metadata(node.bin().join("bridge")).unwrap().ino();
    node.plugin("macvlan", b"macvlan v2");
    let log = node.run_ok("install", &["--conflist", conf]);
    assert_eq!(fs::metadata(node.bin().join("bridge")).unwrap().ino(), inode);
    assert!(log.contains(&format!("unchanged {}", node.bin().join("bridge").display())), "{log}");
    assert!(log.contains(&format!("installed {}", node.bin().join("macvlan").display())), "{log}");
    assert_eq!(fs::read(node.bin().join("macvlan")).unwrap(), b"macvlan v2");
    assert_eq!(node.names(&node.bin()), ["bridge", "macvlan"], "{log}");
    let hidden: Vec<_> = fs::read_dir(node.bin()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!hidden.iter().any(|n| n.to_string_lossy().ends_with(".tmp")), "temporary files left: {hidden:?}");
}

/// Plugins of the same name that were there before railcni (the
/// distribution's, another CNI's) are kept aside and put back on uninstall.
#[test]
fn a_plugin_railcni_replaced_is_restored_on_uninstall() {
    let node = Node::new();
    fs::create_dir_all(node.bin()).unwrap();
    fs::write(node.bin().join("bridge"), b"the reference bridge").unwrap();
    fs::write(node.bin().join("loopback"), b"the reference loopback").unwrap();
    node.plugin("bridge", b"railcni bridge");

    let log = node.run_ok("install", &[]);
    assert!(log.contains("kept the previous bridge"), "{log}");
    assert_eq!(fs::read(node.bin().join("bridge")).unwrap(), b"railcni bridge");
    assert_eq!(fs::read(node.bin().join(".railcni-backup/bridge")).unwrap(), b"the reference bridge");
    // A later upgrade never overwrites the kept original.
    node.plugin("bridge", b"railcni bridge v2");
    node.run_ok("install", &[]);
    assert_eq!(fs::read(node.bin().join(".railcni-backup/bridge")).unwrap(), b"the reference bridge");

    let log = node.run_ok("uninstall", &[]);
    assert!(log.contains("restored the previous"), "{log}");
    assert_eq!(fs::read(node.bin().join("bridge")).unwrap(), b"the reference bridge");
    assert_eq!(fs::read(node.bin().join("loopback")).unwrap(), b"the reference loopback");
    assert!(!node.bin().join(".railcni-backup").exists(), "the empty backup dir stays behind");
}

#[test]
fn uninstall_removes_only_what_is_still_ours() {
    let node = Node::new();
    for p in ["bridge", "macvlan", "host-local"] {
        node.plugin(p, p.as_bytes());
    }
    let conf = node.conflist("90-railcni.conflist", CONFLIST);
    let conf = conf.to_str().unwrap();
    node.run_ok("install", &["--conflist", conf]);
    // Another installer has since replaced host-local; a foreign plugin sits beside ours.
    fs::write(node.bin().join("host-local"), b"the reference host-local").unwrap();
    fs::write(node.bin().join("loopback"), b"the reference loopback").unwrap();

    let log = node.run_ok("uninstall", &["--conflist", conf]);
    assert_eq!(node.names(&node.bin()), ["host-local", "loopback"], "{log}");
    assert!(node.names(&node.net_d()).is_empty(), "{log}");
    assert!(log.contains("(absent or not ours)"), "{log}");
    // Twice is fine.
    node.run_ok("uninstall", &["--conflist", conf]);
}

#[test]
fn a_broken_conflist_or_empty_image_installs_nothing() {
    let node = Node::new();
    let out = node.cmd("install", &["--once"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no plugins to install"), "{}", describe(&out));

    node.plugin("bridge", b"bridge");
    let bad = node.conflist("90-bad.conflist", r#"{"cniVersion":"1.0.0","name":"x","plugins":[]}"#);
    let out = node.cmd("install", &["--once", "--conflist", bad.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("plugins must be a non-empty list"), "{}", describe(&out));
    assert!(!node.bin().exists(), "nothing may be installed before the conflist is known good");

    let out = Command::new(INSTALLER).arg("--frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}

/// Waits for `child` to exit, killing it after `limit`.
fn wait_for(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn daemon_mode_installs_then_waits_for_sigterm() {
    let node = Node::new();
    node.plugin("bridge", b"bridge");
    let mut child = node.cmd("install", &[]).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    while !node.bin().join("bridge").exists() && start.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(20));
    }
    assert!(node.bin().join("bridge").exists(), "not installed within 10 s");
    thread::sleep(Duration::from_millis(200));
    assert!(child.try_wait().unwrap().is_none(), "exited instead of waiting");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = wait_for(&mut child, Duration::from_secs(10)).expect("still running 10 s after SIGTERM");
    assert!(status.success(), "{status}");
}

/// With every capability dropped, as the DaemonSet's security context does
/// (`drop: [ALL]`), root still installs into root-owned directories; and the
/// drop is real: a directory owned by another user is refused.
#[test]
fn needs_no_capabilities() {
    if !nix::unistd::geteuid().is_root() || which("setpriv").is_none() {
        println!("SKIPPED: needs root and setpriv (util-linux)");
        return;
    }
    let node = Node::new();
    node.plugin("bridge", b"bridge");
    let mut c = Command::new("setpriv");
    c.args(["--bounding-set=-all", "--inh-caps=-all", "--no-new-privs", "--"]);
    c.arg(INSTALLER).args(node.cmd("install", &["--once"]).get_args());
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(fs::read(node.bin().join("bridge")).unwrap(), b"bridge");

    let foreign = node.path("foreign");
    fs::create_dir(&foreign).unwrap();
    nix::unistd::chown(&foreign, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
    let mut c = Command::new("setpriv");
    c.args(["--bounding-set=-all", "--inh-caps=-all", "--no-new-privs", "--"]);
    c.arg(INSTALLER).args(["install", "--once", "--src"]).arg(node.path("src")).arg("--bin-dir").arg(&foreign);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "capabilities were not dropped: {}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Permission denied"), "{}", describe(&out));
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(cmd)).find(|p| p.is_file())
}

/// Two payloads that are the installer itself plus a large distinct tail:
/// both run (`--version`), and a copy is slow enough to overlap the loop.
fn payloads(node: &Node) -> [PathBuf; 2] {
    let exe = fs::read(INSTALLER).unwrap();
    [1u8, 2].map(|tag| {
        let dir = node.path(&format!("src{tag}"));
        fs::create_dir_all(&dir).unwrap();
        let mut bytes = exe.clone();
        bytes.extend(std::iter::repeat_n(tag, 16 << 20));
        fs::write(dir.join("plugin"), bytes).unwrap();
        dir
    })
}

/// A kubelet stand-in: exec's `path --version` until stopped; returns
/// (runs, failures with their reasons).
fn exec_loop(path: PathBuf, stop: Arc<AtomicBool>) -> thread::JoinHandle<(u32, Vec<String>)> {
    thread::spawn(move || {
        let expected = format!("railcni-install {}\n", env!("CARGO_PKG_VERSION"));
        let (mut runs, mut failures) = (0, Vec::new());
        while !stop.load(Ordering::Relaxed) {
            runs += 1;
            match Command::new(&path).arg("--version").output() {
                Ok(out) if out.status.success() && out.stdout == expected.as_bytes() => {}
                Ok(out) => failures.push(describe(&out)),
                Err(e) => failures.push(format!("exec: {e}")),
            }
        }
        (runs, failures)
    })
}

#[test]
fn upgrade_while_the_plugin_is_being_execd() {
    let node = Node::new();
    let [v1, v2] = payloads(&node);
    let install = |src: &Path| {
        let out = Command::new(INSTALLER)
            .args(["install", "--once", "--src"])
            .arg(src)
            .arg("--bin-dir")
            .arg(node.bin())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
    };
    install(&v1);

    let stop = Arc::new(AtomicBool::new(false));
    let looper = exec_loop(node.bin().join("plugin"), stop.clone());
    let upgrades = 20;
    for i in 0..upgrades {
        install(if i % 2 == 0 { &v2 } else { &v1 });
    }
    stop.store(true, Ordering::Relaxed);
    let (runs, failures) = looper.join().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {runs} execs failed during {upgrades} upgrades: {:?}",
        failures.len(),
        failures
    );
    assert!(runs >= upgrades, "the loop ran only {runs} times during {upgrades} upgrades");
    assert_eq!(fs::read(node.bin().join("plugin")).unwrap(), fs::read(v1.join("plugin")).unwrap());
    assert_eq!(node.names(&node.bin()), ["plugin"]);
    println!("{runs} execs, 0 failures, during {upgrades} upgrades");
}

/// The control for the test above: the same loop does see the damage an
/// in-place rewrite does, so its silence above means something.
#[test]
fn the_exec_loop_catches_an_in_place_rewrite() {
    let node = Node::new();
    let [v1, v2] = payloads(&node);
    let (b1, b2) = (fs::read(v1.join("plugin")).unwrap(), fs::read(v2.join("plugin")).unwrap());
    fs::create_dir_all(node.bin()).unwrap();
    let dest = node.bin().join("plugin");
    fs::write(&dest, &b1).unwrap();
    fs::set_permissions(&dest, fs::Permissions::from_mode(0o755)).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let looper = exec_loop(dest.clone(), stop.clone());
    let mut writer_errors = 0;
    for i in 0..20 {
        // Truncate and write in place: what `cp` onto the live file does.
        if fs::write(&dest, if i % 2 == 0 { &b2 } else { &b1 }).is_err() {
            writer_errors += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let (runs, failures) = looper.join().unwrap();
    assert!(
        !failures.is_empty() || writer_errors > 0,
        "{runs} execs saw nothing wrong with 20 in-place rewrites: the loop would not catch a non-atomic install"
    );
    println!("in place: {} of {runs} execs failed, {writer_errors} of 20 writes refused", failures.len());
}

/// A Secret volume as the kubelet lays it out: the values in a timestamped
/// dir, `..data` a symlink to it, one symlink per key through `..data`; an
/// update swaps `..data` atomically.
struct SecretVolume {
    dir: PathBuf,
    generation: u32,
}

impl SecretVolume {
    fn new(node: &Node, pairs: &[(&str, &[u8])]) -> SecretVolume {
        let dir = node.path("secret");
        fs::create_dir(&dir).unwrap();
        let mut s = SecretVolume { dir, generation: 0 };
        s.update(pairs);
        s
    }

    fn update(&mut self, pairs: &[(&str, &[u8])]) {
        self.generation += 1;
        let data = format!("..2026_12_06_00_00_0{}.{}", self.generation, std::process::id());
        fs::create_dir(self.dir.join(&data)).unwrap();
        for (k, v) in pairs {
            fs::write(self.dir.join(&data).join(k), v).unwrap();
        }
        std::os::unix::fs::symlink(&data, self.dir.join("..data_tmp")).unwrap();
        fs::rename(self.dir.join("..data_tmp"), self.dir.join("..data")).unwrap();
        for e in fs::read_dir(&self.dir).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if !name.starts_with("..") && !pairs.iter().any(|(k, _)| *k == name) {
                fs::remove_file(self.dir.join(&name)).unwrap();
            }
        }
        for (k, _) in pairs {
            let link = self.dir.join(k);
            if fs::symlink_metadata(&link).is_err() {
                std::os::unix::fs::symlink(format!("..data/{k}"), &link).unwrap();
            }
        }
    }

    fn arg(&self) -> String {
        format!("--cluster-ipam-secret={}", self.dir.display())
    }
}

const CA: &[u8] = b"-----BEGIN CERTIFICATE-----\nCA-PLACEHOLDER-1\n-----END CERTIFICATE-----\n";
const CERT: &[u8] = b"-----BEGIN CERTIFICATE-----\nCLIENT-CERT-1\n-----END CERTIFICATE-----\n";
const CERT2: &[u8] = b"-----BEGIN CERTIFICATE-----\nCLIENT-CERT-2-ROTATED\n-----END CERTIFICATE-----\n";
const KEY: &[u8] = b"-----BEGIN PRIVATE KEY-----\nCLIENT-KEY-SECRET-1\n-----END PRIVATE KEY-----\n";
const PASSWORD: &[u8] = b"pa55-SECRET-word\n";

fn full_secret() -> Vec<(&'static str, &'static [u8])> {
    vec![
        ("endpoints", b"https://10.0.0.1:2379,https://10.0.0.2:2379\nhttps://10.0.0.3:2379\n"),
        ("ca.crt", CA),
        ("tls.crt", CERT),
        ("tls.key", KEY),
        ("username", b"railcni\n"),
        ("password", PASSWORD),
        ("node-grace-seconds", b"900"),
    ]
}

impl Node {
    fn railcni_d(&self) -> PathBuf {
        self.net_d().join("railcni.d")
    }

    /// install/uninstall with the Secret, NODE_NAME from the "downward API",
    /// and the config dir's host path being the temp root's.
    fn ipam_cmd(&self, verb: &str, secret: &SecretVolume) -> Command {
        let host = format!("--host-conf-dir={}", self.net_d().display());
        let mut c = self.cmd(verb, &[&secret.arg(), &host, "--once"]);
        c.env("NODE_NAME", "gpu-node-07");
        c
    }

    #[track_caller]
    fn ipam_ok(&self, verb: &str, secret: &SecretVolume) -> String {
        let out = self.ipam_cmd(verb, secret).output().unwrap();
        assert!(out.status.success(), "{verb}: {}", describe(&out));
        let log = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
        assert_no_credential(&log);
        log
    }
}

#[track_caller]
fn assert_no_credential(text: &str) {
    for needle in ["CA-PLACEHOLDER", "CLIENT-CERT", "CLIENT-KEY-SECRET", "pa55-SECRET"] {
        assert!(!text.contains(needle), "a credential's content was printed: {text}");
    }
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o7777
}

fn ino(p: &Path) -> u64 {
    fs::metadata(p).unwrap().ino()
}

/// Every name in `dir`, hidden ones too (a leftover temp file shows here).
fn all_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn cluster_ipam_settings_rendered_from_a_secret_updated_and_removed() {
    let node = Node::new();
    node.plugin("cluster-ipam", b"cluster-ipam");
    let mut secret = SecretVolume::new(&node, &full_secret());
    let log = node.ipam_ok("install", &secret);

    let (dir, etcd) = (node.railcni_d(), node.railcni_d().join("etcd"));
    let settings_path = dir.join("cluster-ipam.json");
    let settings: serde_json::Value = serde_json::from_slice(&fs::read(&settings_path).unwrap()).unwrap();
    let host = |f: &str| serde_json::json!(etcd.join(f));
    assert_eq!(
        settings,
        serde_json::json!({
            "etcd_endpoints": ["https://10.0.0.1:2379", "https://10.0.0.2:2379", "https://10.0.0.3:2379"],
            "etcd_ca_cert_file": host("ca.crt"),
            "etcd_cert_file": host("tls.crt"),
            "etcd_key_file": host("tls.key"),
            "etcd_password_file": host("password"),
            "etcd_username": "railcni",
            "node_name": "gpu-node-07",
            "node_grace_seconds": 900,
        })
    );
    assert_eq!(all_names(&etcd), ["ca.crt", "password", "tls.crt", "tls.key"]);
    for (name, want) in [("ca.crt", CA), ("tls.crt", CERT), ("tls.key", KEY), ("password", PASSWORD)] {
        assert_eq!(fs::read(etcd.join(name)).unwrap(), want, "{name}");
        assert_eq!(mode(&etcd.join(name)), 0o600, "{name}");
    }
    assert_eq!(mode(&settings_path), 0o600);
    assert_eq!(mode(&etcd), 0o700);
    assert_eq!(all_names(&dir), ["cluster-ipam.json", "etcd"]);
    assert_eq!(log.matches("railcni-install: installed").count(), 6, "{log}");

    // Again: nothing is rewritten.
    let inodes: Vec<u64> = ["ca.crt", "tls.crt", "tls.key", "password"].map(|f| ino(&etcd.join(f))).to_vec();
    let settings_ino = ino(&settings_path);
    let log = node.ipam_ok("install", &secret);
    assert!(!log.contains("railcni-install: installed"), "{log}");
    assert_eq!(log.matches("railcni-install: unchanged").count(), 6, "{log}");
    assert_eq!(["ca.crt", "tls.crt", "tls.key", "password"].map(|f| ino(&etcd.join(f))).to_vec(), inodes);
    assert_eq!(ino(&settings_path), settings_ino);

    // A rotated client certificate, a new grace, and no more password auth:
    // the changed files are replaced (new inodes), the rest stay, the
    // password goes, no temp file is left.
    let rotated: Vec<(&str, &[u8])> = vec![
        ("endpoints", b"https://10.0.0.1:2379"),
        ("ca.crt", CA),
        ("tls.crt", CERT2),
        ("tls.key", KEY),
        ("node-grace-seconds", b"120"),
    ];
    secret.update(&rotated);
    let log = node.ipam_ok("install", &secret);
    assert!(log.contains(&format!("installed {}", etcd.join("tls.crt").display())), "{log}");
    assert!(log.contains(&format!("removed {}", etcd.join("password").display())), "{log}");
    assert_eq!(fs::read(etcd.join("tls.crt")).unwrap(), CERT2);
    assert_ne!(ino(&etcd.join("tls.crt")), inodes[1], "rewritten in place instead of replaced");
    assert_eq!(ino(&etcd.join("ca.crt")), inodes[0]);
    assert_eq!(mode(&etcd.join("tls.crt")), 0o600);
    assert_eq!(all_names(&etcd), ["ca.crt", "tls.crt", "tls.key"]);
    assert_eq!(all_names(&dir), ["cluster-ipam.json", "etcd"]);
    let settings: serde_json::Value = serde_json::from_slice(&fs::read(&settings_path).unwrap()).unwrap();
    assert_eq!(settings["node_grace_seconds"], 120);
    assert_eq!(settings["etcd_endpoints"], serde_json::json!(["https://10.0.0.1:2379"]));
    assert!(settings.get("etcd_password_file").is_none() && settings.get("etcd_username").is_none(), "{settings}");
    assert_eq!(mode(&settings_path), 0o600);

    // Uninstall removes the settings, the credentials and both dirs; twice is fine.
    node.ipam_ok("uninstall", &secret);
    assert!(!dir.exists(), "left: {:?}", all_names(&dir));
    node.ipam_ok("uninstall", &secret);
}

#[test]
fn a_secret_missing_a_key_installs_nothing() {
    let node = Node::new();
    node.plugin("cluster-ipam", b"cluster-ipam");
    let mut pairs = full_secret();
    pairs.retain(|(k, _)| *k != "ca.crt");
    let secret = SecretVolume::new(&node, &pairs);
    let out = node.ipam_cmd("install", &secret).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("key \"ca.crt\": missing"), "{err}");
    assert_no_credential(&err);
    assert!(!node.bin().exists() && !node.net_d().exists(), "something was written");

    // A half pair, and no node name.
    let mut pairs = full_secret();
    pairs.retain(|(k, _)| *k != "tls.key");
    let secret2 = SecretVolume { dir: node.path("secret2"), generation: 0 };
    fs::create_dir(&secret2.dir).unwrap();
    let mut secret2 = secret2;
    secret2.update(&pairs);
    let out = node.ipam_cmd("install", &secret2).output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("key \"tls.key\": missing (tls.crt is set)"),
        "{}",
        describe(&out)
    );
    let out = node.ipam_cmd("install", &secret).env_remove("NODE_NAME").output().unwrap();
    let _ = secret;
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NODE_NAME"), "{}", describe(&out));
    assert!(!node.bin().exists() && !node.net_d().exists(), "something was written");
}

/// In the DaemonSet the installer keeps running: a Secret the kubelet
/// updates (a rotated certificate) reaches the node without a restart.
#[test]
fn daemon_mode_follows_a_secret_update() {
    let node = Node::new();
    node.plugin("cluster-ipam", b"cluster-ipam");
    let mut secret = SecretVolume::new(&node, &full_secret());
    let host = format!("--host-conf-dir={}", node.net_d().display());
    let mut child = node
        .cmd("install", &[&secret.arg(), &host, "--resync", "1"])
        .env("NODE_NAME", "gpu-node-07")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let cert = node.railcni_d().join("etcd/tls.crt");
    let until = |what: &str, f: &dyn Fn() -> bool| {
        let start = Instant::now();
        while !f() {
            assert!(start.elapsed() < Duration::from_secs(10), "{what} within 10 s");
            thread::sleep(Duration::from_millis(50));
        }
    };
    until("installed", &|| fs::read(&cert).is_ok_and(|b| b == CERT));
    let mut pairs = full_secret();
    pairs.retain(|(k, _)| *k != "tls.crt");
    pairs.push(("tls.crt", CERT2));
    secret.update(&pairs);
    until("the rotated certificate", &|| fs::read(&cert).is_ok_and(|b| b == CERT2));
    assert_eq!(mode(&cert), 0o600);
    assert!(child.try_wait().unwrap().is_none(), "exited instead of waiting");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = wait_for(&mut child, Duration::from_secs(10)).expect("still running 10 s after SIGTERM");
    assert!(status.success(), "{status}");
    let mut log = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(log.contains(&format!("installed {}", cert.display())), "{log}");
    assert_no_credential(&log);
}
