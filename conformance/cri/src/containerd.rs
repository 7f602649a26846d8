//! One containerd of the test's own: its config, root, state, runc root and
//! socket all live in one temporary directory, so it never meets the
//! system's containerd (`/run/containerd/containerd.sock`,
//! `/var/lib/containerd`, its systemd unit). It runs in the node namespace
//! (`crate::node`), logs at debug level to `containerd.log` there, and is
//! started, SIGKILLed and stopped by PID.

use crate::client::Cri;
use crate::pause;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The CRI plugin's snapshotter. `native` copies the image into each
/// sandbox's root: the image is 129 bytes, and it works on any filesystem
/// under the temporary directory (overlayfs does not).
const SNAPSHOTTER: &str = "native";

pub struct Containerd {
    dir: PathBuf,
    node_netns: PathBuf,
    child: Option<Child>,
}

impl Containerd {
    /// Writes the config into `dir` (which must exist) and starts
    /// containerd in `node_netns`, with the CRI plugin's CNI bin and conf
    /// dirs as given; imports the pause image on its first start.
    pub fn start(dir: &Path, node_netns: &Path, cni_bin_dir: &Path, cni_conf_dir: &Path) -> Containerd {
        fs::write(dir.join("config.toml"), config(dir, cni_bin_dir, cni_conf_dir)).expect("containerd config");
        let mut containerd = Containerd { dir: dir.to_owned(), node_netns: node_netns.to_owned(), child: None };
        containerd.spawn();
        containerd.import_pause_image();
        containerd
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }

    /// containerd's own log (stderr), debug level, kept across restarts.
    pub fn log(&self) -> PathBuf {
        self.dir.join("containerd.log")
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL, as a crash or an OOM kill would: the shims and the pods
    /// stay up.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same config, root and state after `kill`.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart of a running containerd");
        self.spawn();
    }

    /// SIGTERM, then SIGKILL after 10 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The PIDs of the shims this containerd started (found by the socket
    /// address on their command line, which is this containerd's alone),
    /// and of the processes they parent: the pods' pause processes.
    pub fn shim_family(&self) -> Vec<i32> {
        let socket = self.socket();
        let socket = socket.to_str().expect("utf-8 path");
        let procs: Vec<(i32, i32, Vec<String>)> = fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter_map(|pid| {
                let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
                let args = cmdline.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
                Some((pid, parent(pid)?, args))
            })
            .collect();
        let shims: Vec<i32> = procs
            .iter()
            .filter(|(_, _, args)| {
                args.first().is_some_and(|a| a.ends_with("containerd-shim-runc-v2"))
                    && args.windows(2).any(|w| w[0] == "-address" && w[1] == socket)
            })
            .map(|(pid, _, _)| *pid)
            .collect();
        let children = procs.iter().filter(|(_, ppid, _)| shims.contains(ppid)).map(|(pid, _, _)| *pid);
        children.chain(shims.iter().copied()).collect()
    }

    fn spawn(&mut self) {
        let log = File::options().create(true).append(true).open(self.log()).expect("containerd log");
        let net = format!("--net={}", self.node_netns.display());
        // nsenter execs containerd: the PID is containerd's.
        let child = Command::new("nsenter")
            .arg(net)
            .arg("containerd")
            .arg("--config")
            .arg(self.dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("nsenter containerd");
        self.child = Some(child);
        self.wait_ready();
    }

    /// Until the CRI service answers Version (containerd exiting, or 30 s,
    /// fails with its log).
    fn wait_ready(&mut self) {
        let mut cri = Cri::new(&self.socket());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if cri.version().is_ok() {
                return;
            }
            let exited = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                let log = fs::read_to_string(self.log()).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                panic!(
                    "containerd did not come up ({exited:?}):\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `ctr images import` of the pause image into the CRI plugin's
    /// namespace, unpacked for its snapshotter.
    fn import_pause_image(&self) {
        let archive = self.dir.join("pause.tar");
        fs::write(&archive, pause::oci_archive()).expect("pause image archive");
        let out = Command::new("ctr")
            .arg("--address")
            .arg(self.socket())
            .args(["--namespace", "k8s.io", "images", "import", "--snapshotter", SNAPSHOTTER])
            .arg(&archive)
            .output()
            .expect("ctr");
        assert!(out.status.success(), "ctr images import: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Containerd {
    /// Every process this containerd caused, by PID: the pause processes,
    /// the shims, then containerd. (A test that passed has stopped its
    /// pods already; this is for one that failed half way.)
    fn drop(&mut self) {
        for pid in self.shim_family() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        self.kill();
    }
}

fn parent(pid: i32) -> Option<i32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("PPid:"))?.trim().parse().ok()
}

/// containerd's config (version 2, containerd 1.6): everything it writes
/// goes under `dir`, except what the CRI plugin fixes itself (the pod
/// netns in `/var/run/netns`, libcni's cache in `/var/lib/cni`).
fn config(dir: &Path, cni_bin_dir: &Path, cni_conf_dir: &Path) -> String {
    let d = dir.display();
    let cri = r#"plugins."io.containerd.grpc.v1.cri""#;
    format!(
        r#"version = 2
root = "{d}/root"
state = "{d}/state"
# The "opt" plugin would create /opt/containerd.
disabled_plugins = ["io.containerd.internal.v1.opt"]

[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[debug]
  # The speed test reads the CRI plugin's debug lines.
  level = "debug"
[metrics]
  address = ""

[{cri}]
  sandbox_image = "{image}"
  # Root here lacks CAP_SYS_RESOURCE: runc cannot lower the pause
  # process's oom_score_adj to -998 and would fail every pod.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [{cri}.containerd]
    snapshotter = "{SNAPSHOTTER}"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        # Not the shim's default /run/containerd/runc.
        Root = "{d}/runc"
  [{cri}.cni]
    bin_dir = "{bin}"
    conf_dir = "{conf}"
    max_conf_num = 1
"#,
        image = pause::IMAGE,
        bin = cni_bin_dir.display(),
        conf = cni_conf_dir.display(),
    )
}
