//! Named network namespaces (`ip netns add`) for the interface-plugin tests,
//! removed on drop, and a way to run code or processes inside one.
//!
//! Nothing here ever touches the machine's root network namespace: the test
//! creates a "host" namespace and runs the runtime and the plugins in it,
//! as they would run on a node. Deleting a namespace destroys every virtual
//! link in it (veth ends, bridges), so dropping the namespaces is the cleanup.

use serde_json::Value;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where `ip netns` keeps its bind mounts.
pub const NETNS_DIR: &str = "/run/netns";

/// A prefix unique to this process and call, e.g. `rcb-4242-3`. Namespace and
/// bridge names are derived from it; it is short so that `<prefix>b` fits
/// the 15-byte interface name limit.
pub fn unique_prefix(tag: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{tag}-{}-{n}", std::process::id())
}

/// True when we can create namespaces (root); tests print SKIPPED otherwise.
pub fn have_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// True (after printing `SKIPPED: ...`) when `tests` cannot run for lack of
/// root: they pass without doing anything, as the README says.
pub fn skip_without_root(tests: &str) -> bool {
    if have_root() {
        return false;
    }
    eprintln!("SKIPPED: {tests} need root (network namespaces)");
    true
}

/// True when `ping` (iputils-ping) is there for [`Namespace::ping`].
pub fn have_ping() -> bool {
    Command::new("ping").arg("-V").output().is_ok_and(|o| o.status.success())
}

/// A named network namespace that is deleted on drop.
#[derive(Debug)]
pub struct Namespace {
    name: String,
    path: PathBuf,
}

impl Namespace {
    /// `ip netns add <name>` and bring its loopback up (a runtime does that for a pod).
    pub fn create(name: &str) -> Result<Namespace, String> {
        // The first `ip netns add` on a machine also sets up the shared mount
        // of /run/netns; two at once can trip over each other.
        static CREATE: Mutex<()> = Mutex::new(());
        {
            let _guard = CREATE.lock().unwrap_or_else(|e| e.into_inner());
            run_ok(Command::new("ip").args(["netns", "add", name]))?;
        }
        let ns = Namespace { name: name.to_string(), path: Path::new(NETNS_DIR).join(name) };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// A name for the namespace this process is in (`ip netns attach`), for
    /// plugins that must run where the node's devices are (SR-IOV VFs). Drop
    /// removes the name only; the namespace lives on with its processes.
    pub fn attach_current(name: &str) -> Result<Namespace, String> {
        run_ok(Command::new("ip").args(["netns", "attach", name, &std::process::id().to_string()]))?;
        Ok(Namespace { name: name.to_string(), path: Path::new(NETNS_DIR).join(name) })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/<name>`: what a runtime passes as `CNI_NETNS`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn path_str(&self) -> String {
        self.path.display().to_string()
    }

    /// `ip -n <name> <args>`; stdout on success, a full description otherwise.
    pub fn ip(&self, args: &[&str]) -> Result<String, String> {
        let out = run_ok(Command::new("ip").arg("-n").arg(&self.name).args(args))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `ip -j -n <name> <args>` parsed (an empty answer is an empty list).
    pub fn ip_json(&self, args: &[&str]) -> Result<Value, String> {
        let out = run_ok(Command::new("ip").arg("-j").arg("-n").arg(&self.name).args(args))?;
        if out.stdout.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Array(Vec::new()));
        }
        serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("ip -j {args:?}: not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
    }

    /// `ip netns exec <name> <argv>`, without judging the exit status.
    pub fn exec(&self, argv: &[&str]) -> Output {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).args(argv);
        cmd.output().unwrap_or_else(|e| panic!("cannot run ip netns exec {argv:?}: {e}"))
    }

    /// One ping from inside the namespace to `to` (an address, or `addr/prefix`
    /// as results give them), 3 s timeout; `Err` has ping's output and the
    /// namespace's addresses and routes.
    pub fn ping(&self, to: &str) -> Result<(), String> {
        self.ping_with(&["-W", "3"], to)
    }

    /// [`Namespace::ping`] with ping's `options` (`-I <source>`, `-W <secs>`).
    pub fn ping_with(&self, options: &[&str], to: &str) -> Result<(), String> {
        let addr = to.split('/').next().unwrap_or(to);
        let mut argv = vec!["ping", "-c", "1"];
        argv.extend(options);
        argv.push(addr);
        let out = self.exec(&argv);
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "ping {options:?} {addr} from {} failed ({}): {}{}\n{}",
            self.name,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.dump()
        ))
    }

    /// A sysctl as seen inside the namespace (`/proc/sys/net` is per namespace).
    pub fn sysctl(&self, key: &str) -> Result<String, String> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let out = self.exec(&["cat", &path]);
        if !out.status.success() {
            return Err(format!("reading {path} in {}: {}", self.name, String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Runs `f` on a fresh thread that has joined this namespace, so the
    /// processes it spawns start here. Only that thread moves: the test
    /// thread (and the rest of the test process) stays where it was.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                self.enter_current_thread().unwrap_or_else(|e| panic!("{e}"));
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Moves the calling thread into this namespace for good (`setns(2)` with
    /// CLONE_NEWNET only affects the calling thread). Used by the benchmark,
    /// whose timing thread must not pay `ip netns exec` per call.
    pub fn enter_current_thread(&self) -> Result<(), String> {
        let f = File::open(&self.path).map_err(|e| format!("open {}: {e}", self.path.display()))?;
        // SAFETY: plain syscall on a valid fd; only the calling thread's netns changes.
        let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc != 0 {
            return Err(format!("setns({}): {}", self.path.display(), std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Deletes the namespace now (a runtime tearing a pod down before DEL).
    /// Drop then has nothing left to do.
    pub fn delete(&self) -> Result<(), String> {
        run_ok(Command::new("ip").args(["netns", "del", &self.name])).map(|_| ())
    }

    pub fn exists(&self) -> bool {
        self.path.exists()
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        if self.exists() {
            let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
        }
    }
}

/// Runs `cmd`; a non-zero exit is an error naming the command and its stderr.
pub fn run_ok(cmd: &mut Command) -> Result<Output, String> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| format!("cannot run {shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{shown} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end(),
            String::from_utf8_lossy(&out.stdout).trim_end()
        ));
    }
    Ok(out)
}
