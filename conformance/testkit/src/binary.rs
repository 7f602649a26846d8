//! Locating plugin binaries and invoking them the way a CNI runtime does.

use crate::exec;
use crate::outcome::Outcome;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Where Debian's reference plugins live.
pub const REFERENCE_DIR: &str = "/usr/lib/cni";

/// Overrides the directory holding the railcni binaries under test.
pub const BIN_DIR_ENV: &str = "RAILCNI_BIN_DIR";

/// A dummy netns path: IPAM plugins never open it, and pointing at a real
/// namespace (e.g. /proc/self/ns/net) would risk a plugin touching the host network.
pub const DUMMY_NETNS: &str = "/var/run/netns/railcni-conformance";

/// Default limit for one plugin run; a hung plugin must fail the test, not hang CI.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The cargo workspace root (this crate is `conformance/testkit`).
pub fn workspace_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().nth(2).unwrap_or(manifest).to_path_buf()
}

/// Directory of our binaries: `$RAILCNI_BIN_DIR`, else `<target>/<profile>` where
/// target is `$CARGO_TARGET_DIR` or `<workspace>/target`.
pub fn our_bin_dir(profile: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    build_dir(profile)
}

/// `<target>/<profile>`, where cargo puts the workspace's binaries (the
/// plugins, and tools such as `conformance`), `CARGO_TARGET_DIR` honoured.
pub fn build_dir(profile: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join("target"));
    target.join(profile)
}

/// `CNI_PATH` naming our build output dir (`our_bin_dir("debug")`), for a
/// runtime that must find our `plugins` there; panics with build
/// instructions if one is missing.
pub fn our_cni_path(plugins: &[&str]) -> String {
    for p in plugins {
        Binary::ours(p);
    }
    our_bin_dir("debug").display().to_string()
}

/// `CNI_PATH` on which `ours` are railcni's and every other plugin is the
/// reference's: a temporary directory of links to our `ours`, then
/// [`REFERENCE_DIR`]. Our build output cannot go first, because railcni
/// ships a plugin of every reference name. Keep the directory while the path is used.
pub fn ours_then_reference(ours: &[&str]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temporary CNI_PATH directory");
    for p in ours {
        std::os::unix::fs::symlink(Binary::ours(p).path(), dir.path().join(p)).expect("link to our plugin");
    }
    let path = format!("{}:{REFERENCE_DIR}", dir.path().display());
    (dir, path)
}

/// A plugin executable, ours or the reference's, that the tests exec as a
/// runtime does (not to be confused with `cni::Plugin`, the trait our plugins implement).
#[derive(Debug, Clone)]
pub struct Binary {
    name: String,
    path: PathBuf,
    /// "ours" or "ref": printed in failure messages so the culprit is obvious.
    label: &'static str,
}

impl Binary {
    /// Our binary `name` from the debug build (or `$RAILCNI_BIN_DIR`).
    ///
    /// Panics with build instructions when it is missing: every test needs it.
    pub fn ours(name: &str) -> Binary {
        match Binary::find(&our_bin_dir("debug"), name, "ours") {
            Ok(p) => p,
            Err(e) => panic!("{e}; run `cargo build --workspace` first (or set {BIN_DIR_ENV})"),
        }
    }

    /// The Debian reference plugin `name` in [`REFERENCE_DIR`].
    pub fn reference(name: &str) -> Binary {
        match Binary::find(Path::new(REFERENCE_DIR), name, "ref") {
            Ok(p) => p,
            Err(e) => panic!("{e}; install Debian's containernetworking-plugins"),
        }
    }

    /// A plugin in an arbitrary directory, or a message saying why not.
    pub fn find(dir: &Path, name: &str, label: &'static str) -> Result<Binary, String> {
        let path = dir.join(name);
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(Binary { name: name.to_string(), path, label }),
            Ok(_) => Err(format!("{} is not a regular file", path.display())),
            Err(e) => Err(format!("plugin binary {} not found ({e})", path.display())),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn label(&self) -> &'static str {
        self.label
    }

    /// The directory the binary is in; used as the default `CNI_PATH`.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("/"))
    }

    /// Runs the plugin. An exec failure becomes an [`Outcome`] with exit code 127
    /// and the reason on stderr, so assertions report it like any other failure.
    pub fn call(&self, inv: &Invocation) -> Outcome {
        self.call_under(&[], inv)
    }

    /// [`Binary::call`], with the plugin started by the command `launcher`
    /// (its argv before the plugin's path), e.g. `/usr/bin/time -f %M -o F`.
    pub fn call_under(&self, launcher: &[&str], inv: &Invocation) -> Outcome {
        let mut cmd = match launcher.split_first() {
            Some((prog, args)) => {
                let mut c = Command::new(prog);
                c.args(args).arg(&self.path);
                c
            }
            None => Command::new(&self.path),
        };
        // Inherit the environment like a runtime would, minus stray CNI_* from the test runner.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("CNI_") {
                cmd.env_remove(&k);
            }
        }
        let mut vars = inv.vars.clone();
        if inv.default_path && !vars.contains_key("CNI_PATH") {
            vars.insert("CNI_PATH".into(), Some(self.dir().display().to_string()));
        }
        for (k, v) in &vars {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let run = exec::run(&mut cmd, &inv.stdin, inv.timeout);
        Outcome::new(self, &vars, &inv.stdin, run)
    }

    /// ADD with the usual env for (cid, ifname).
    pub fn add(&self, conf: &Value, cid: &str, ifname: &str) -> Outcome {
        self.call(&Invocation::add().attachment(cid, ifname).stdin_json(conf))
    }

    /// DEL with the usual env for (cid, ifname).
    pub fn del(&self, conf: &Value, cid: &str, ifname: &str) -> Outcome {
        self.call(&Invocation::del().attachment(cid, ifname).stdin_json(conf))
    }

    /// CHECK with the usual env for (cid, ifname).
    pub fn check(&self, conf: &Value, cid: &str, ifname: &str) -> Outcome {
        self.call(&Invocation::check().attachment(cid, ifname).stdin_json(conf))
    }
}

/// Environment and stdin of one plugin run. `None` values are explicitly unset.
#[derive(Debug, Clone)]
pub struct Invocation {
    vars: BTreeMap<String, Option<String>>,
    stdin: Vec<u8>,
    timeout: Duration,
    default_path: bool,
}

impl Invocation {
    /// No CNI_* variables at all, empty stdin.
    pub fn bare() -> Self {
        Invocation { vars: BTreeMap::new(), stdin: Vec::new(), timeout: DEFAULT_TIMEOUT, default_path: false }
    }

    /// A verb with the variables a runtime sets for an attachment verb
    /// (ADD/DEL/CHECK): CONTAINERID, NETNS, IFNAME and PATH.
    pub fn attachment_verb(command: &str) -> Self {
        let mut inv = Invocation::bare().command(command);
        inv.default_path = true;
        inv.set("CNI_CONTAINERID", "conformance").set("CNI_NETNS", DUMMY_NETNS).set("CNI_IFNAME", "eth0")
    }

    pub fn add() -> Self {
        Invocation::attachment_verb("ADD")
    }

    pub fn del() -> Self {
        Invocation::attachment_verb("DEL")
    }

    pub fn check() -> Self {
        Invocation::attachment_verb("CHECK")
    }

    /// GC/STATUS get only COMMAND and PATH: plugins must not need attachment variables.
    pub fn network_verb(command: &str) -> Self {
        let mut inv = Invocation::bare().command(command);
        inv.default_path = true;
        inv
    }

    pub fn gc() -> Self {
        Invocation::network_verb("GC")
    }

    pub fn status() -> Self {
        Invocation::network_verb("STATUS")
    }

    /// VERSION needs only CNI_COMMAND (spec §2).
    pub fn version(cni_version: &str) -> Self {
        Invocation::bare().command("VERSION").stdin_json(&serde_json::json!({ "cniVersion": cni_version }))
    }

    pub fn command(self, command: &str) -> Self {
        self.set("CNI_COMMAND", command)
    }

    pub fn attachment(self, cid: &str, ifname: &str) -> Self {
        self.set("CNI_CONTAINERID", cid).set("CNI_IFNAME", ifname)
    }

    pub fn cni_args(self, args: &str) -> Self {
        self.set("CNI_ARGS", args)
    }

    /// Sets any variable (also non-CNI ones).
    pub fn set(mut self, var: &str, value: &str) -> Self {
        self.vars.insert(var.to_string(), Some(value.to_string()));
        self
    }

    /// Makes sure `var` is absent from the child's environment.
    pub fn unset(mut self, var: &str) -> Self {
        self.vars.insert(var.to_string(), None);
        if var == "CNI_PATH" {
            self.default_path = false;
        }
        self
    }

    pub fn stdin_json(self, v: &Value) -> Self {
        self.stdin_raw(v.to_string().into_bytes())
    }

    pub fn stdin_raw(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = bytes.into();
        self
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }
}
