//! Running `target/railcni-cnitool` (conformance/driver), the Go runtime
//! driver that calls plugins through libcni or containerd's go-cni.

use crate::binary::workspace_dir;
use crate::exec;
use crate::netns::Namespace;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

/// Overrides the driver binary.
pub const DRIVER_ENV: &str = "RAILCNI_CNITOOL";

const TIMEOUT: Duration = Duration::from_secs(120);

/// Which Go library the driver uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lib {
    Libcni,
    Gocni,
}

impl Lib {
    pub fn flag(self) -> &'static str {
        match self {
            Lib::Libcni => "libcni",
            Lib::Gocni => "gocni",
        }
    }
}

/// The driver binary; built with `conformance/build-driver.sh` on first use
/// if it is missing (the script is offline once its apt packages are there).
pub fn driver_path() -> PathBuf {
    if let Some(p) = std::env::var_os(DRIVER_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let path = workspace_dir().join("target").join("railcni-cnitool");
    static BUILD: Mutex<()> = Mutex::new(());
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if !path.is_file() {
        let script = workspace_dir().join("conformance").join("build-driver.sh");
        let out = Command::new("bash").arg(&script).output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!(
                "{} is missing and {} failed: {}",
                path.display(),
                script.display(),
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => panic!("{} is missing and {} could not run: {e}", path.display(), script.display()),
        }
    }
    path
}

/// One driver invocation: `railcni-cnitool --lib L <verb> <net> <netns>`.
#[derive(Debug, Clone)]
pub struct Call {
    pub lib: Lib,
    pub verb: &'static str,
    pub net: String,
    pub netns: String,
    pub ifname: String,
    pub container_id: Option<String>,
    pub cni_args: Option<String>,
    pub cap_args: Option<Value>,
}

impl Call {
    pub fn new(verb: &'static str, net: &str, netns: &str) -> Call {
        Call {
            lib: Lib::Libcni,
            verb,
            net: net.to_string(),
            netns: netns.to_string(),
            ifname: "eth0".into(),
            container_id: None,
            cni_args: None,
            cap_args: None,
        }
    }

    pub fn lib(mut self, lib: Lib) -> Call {
        self.lib = lib;
        self
    }

    pub fn ifname(mut self, ifname: &str) -> Call {
        self.ifname = ifname.to_string();
        self
    }

    pub fn container_id(mut self, cid: &str) -> Call {
        self.container_id = Some(cid.to_string());
        self
    }

    pub fn cni_args(mut self, args: &str) -> Call {
        self.cni_args = Some(args.to_string());
        self
    }

    pub fn cap_args(mut self, v: Value) -> Call {
        self.cap_args = Some(v);
        self
    }
}

/// Where the runtime's files are.
#[derive(Debug, Clone)]
pub struct Dirs {
    pub conf_dir: PathBuf,
    pub cni_path: String,
    pub cache_dir: PathBuf,
}

/// What the driver did.
#[derive(Debug)]
pub struct DriverOut {
    pub cmdline: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub wall: Duration,
}

impl DriverOut {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    pub fn describe(&self) -> String {
        format!(
            "driver: {}\n  exit: {:?}\n  stdout: {}\n  stderr: {}",
            self.cmdline,
            self.code,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }

    /// Exit 0; the ADD result (libcni prints it) if stdout holds JSON.
    #[track_caller]
    pub fn assert_ok(&self) -> Option<Value> {
        assert!(self.success(), "expected success\n{}", self.describe());
        serde_json::from_str(&self.stdout).ok()
    }

    /// Exit 0 with the ADD result `lib` printed: libcni prints the result
    /// itself; go-cni prints its own Result type, with the 1.x result in
    /// `Raw[0]` (`null` if it is not there).
    #[track_caller]
    pub fn assert_result(&self, lib: Lib) -> Value {
        let Some(printed) = self.assert_ok() else {
            panic!("ADD printed no JSON\n{}", self.describe());
        };
        match lib {
            Lib::Libcni => printed,
            Lib::Gocni => printed["Raw"].as_array().and_then(|a| a.first()).cloned().unwrap_or(Value::Null),
        }
    }

    /// Non-zero exit with the plugin's CNI error `{"code":N,...}` on stdout
    /// (the driver prints it on one line when a plugin returned one).
    /// `Err` says what was wrong instead, for tests that collect failures.
    pub fn check_error_code(&self, code: u64) -> Result<Value, String> {
        if self.success() {
            return Err(format!("expected CNI error {code}, got success\n{}", self.describe()));
        }
        let err = self
            .stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
            .find(|v| v.get("code").is_some())
            .ok_or_else(|| format!("expected CNI error JSON on stdout\n{}", self.describe()))?;
        if err["code"].as_u64() != Some(code) {
            return Err(format!("wrong error code: {:?}, expected {code}\n{}", err["code"].as_u64(), self.describe()));
        }
        Ok(err)
    }

    /// [`DriverOut::check_error_code`], panicking.
    #[track_caller]
    pub fn assert_error_code(&self, code: u64) -> Value {
        match self.check_error_code(code) {
            Ok(err) => err,
            Err(e) => panic!("{e}"),
        }
    }
}

/// Runs the driver inside `host` (as a runtime runs on the node), so the
/// plugins it execs start there.
pub fn run(host: &Namespace, dirs: &Dirs, call: &Call) -> DriverOut {
    run_in(Some(host), dirs, call)
}

/// Runs the driver in the test's own namespace: the VM stage's SR-IOV
/// tests, whose plugins must run where the PFs are.
pub fn run_here(dirs: &Dirs, call: &Call) -> DriverOut {
    run_in(None, dirs, call)
}

fn run_in(host: Option<&Namespace>, dirs: &Dirs, call: &Call) -> DriverOut {
    let bin = driver_path();
    let mut cmd = Command::new(&bin);
    for (k, _) in std::env::vars_os() {
        let k_s = k.to_string_lossy();
        if k_s.starts_with("CNI_") || k_s == "CAP_ARGS" || k_s == "NETCONFPATH" {
            cmd.env_remove(&k);
        }
    }
    cmd.args(["--lib", call.lib.flag(), call.verb, &call.net, &call.netns])
        .env("NETCONFPATH", &dirs.conf_dir)
        .env("CNI_PATH", &dirs.cni_path)
        .env("CNI_CACHEDIR", &dirs.cache_dir)
        .env("CNI_IFNAME", &call.ifname);
    let mut shown = format!(
        "NETCONFPATH={} CNI_PATH={} CNI_CACHEDIR={} CNI_IFNAME={}",
        dirs.conf_dir.display(),
        dirs.cni_path,
        dirs.cache_dir.display(),
        call.ifname
    );
    if let Some(cid) = &call.container_id {
        cmd.env("CNI_CONTAINERID", cid);
        shown.push_str(&format!(" CNI_CONTAINERID={cid}"));
    }
    if let Some(a) = &call.cni_args {
        cmd.env("CNI_ARGS", a);
        shown.push_str(&format!(" CNI_ARGS={a:?}"));
    }
    if let Some(c) = &call.cap_args {
        cmd.env("CAP_ARGS", c.to_string());
        shown.push_str(&format!(" CAP_ARGS='{c}'"));
    }
    let cmdline = format!(
        "{}env {shown} {} --lib {} {} {} {}",
        host.map(|h| format!("ip netns exec {} ", h.name())).unwrap_or_default(),
        bin.display(),
        call.lib.flag(),
        call.verb,
        call.net,
        call.netns
    );
    let raw = match host {
        Some(h) => h.run(|| exec::run(&mut cmd, b"", TIMEOUT)),
        None => exec::run(&mut cmd, b"", TIMEOUT),
    };
    match raw {
        Ok(r) => DriverOut {
            cmdline,
            code: if r.timed_out { None } else { r.status.code() },
            stdout: String::from_utf8_lossy(&r.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&r.stderr).into_owned(),
            wall: r.wall,
        },
        Err(e) => DriverOut { cmdline, code: None, stdout: String::new(), stderr: e.to_string(), wall: Duration::ZERO },
    }
}

/// The libcni cache entry for an attachment, if present.
pub fn cache_entry(cache_dir: &Path, net: &str, cid: &str, ifname: &str) -> PathBuf {
    cache_dir.join("results").join(format!("{net}-{cid}-{ifname}"))
}
