//! A stage: a node namespace, a containerd of its own with one conflist,
//! and every pod it ran. Dropping it, pass or fail, stops every process the
//! stage caused, by PID, and removes what it caused outside its directory.

use crate::bins::Plugins;
use crate::client::Cri;
use crate::containerd::Containerd;
use crate::host_files;
use crate::node::{self, Node};
use crate::proto::{LinuxPodSandboxConfig, PodSandboxConfig, PodSandboxMetadata, PodSandboxState};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// What PodSandboxStatus says about a running pod.
#[derive(Clone, Debug)]
pub struct Pod {
    pub id: String,
    /// SANDBOX_READY.
    pub ready: bool,
    /// The pod's IP (status.network.ip).
    pub ip: String,
    /// The pod's network namespace (`/var/run/netns/cni-*`), from the
    /// sandbox's runtime spec in the verbose status.
    pub netns: PathBuf,
}

pub struct Stage {
    // Fields drop in this order: containerd and its processes first, then
    // the node namespace (and every link in it), then the directory.
    pub containerd: Containerd,
    pub cri: Cri,
    pub node: Node,
    dir: tempfile::TempDir,
    /// The name stem of this stage's names: node netns, pods, cgroups.
    pub tag: String,
    ids: Vec<String>,
    netns: Vec<PathBuf>,
}

impl Stage {
    /// A stage whose containerd runs `plugins` on the conflist that
    /// `conflist` returns for the stage's host-local `dataDir`.
    pub fn start(plugins: Plugins, conflist: impl FnOnce(&Path) -> Value) -> Stage {
        static STAGES: AtomicU32 = AtomicU32::new(0);
        let tag = format!("railcni-cri-{}-{}", std::process::id(), STAGES.fetch_add(1, Ordering::Relaxed));
        let dir = tempfile::Builder::new().prefix(&format!("{tag}-")).tempdir().expect("stage dir");
        let conf_dir = dir.path().join("net.d");
        fs::create_dir_all(&conf_dir).expect("conf dir");
        let data_dir = dir.path().join("ipam");
        let conflist = conflist(&data_dir);
        fs::write(conf_dir.join("10-railcni-cri.conflist"), serde_json::to_vec_pretty(&conflist).unwrap()).unwrap();
        let node = Node::new(&tag);
        let bin_dir = plugins.bin_dir(dir.path());
        let containerd = Containerd::start(dir.path(), &node.path(), &bin_dir, &conf_dir);
        let cri = Cri::new(&containerd.socket());
        Stage { containerd, cri, node, dir, tag, ids: Vec::new(), netns: Vec::new() }
    }

    /// SIGKILLs containerd (its shims and pods stay up).
    pub fn kill_containerd(&mut self) {
        self.containerd.kill();
    }

    /// Starts containerd again on the same root and state, with a new
    /// client connection.
    pub fn restart_containerd(&mut self) {
        self.containerd.restart();
        self.cri = Cri::new(&self.containerd.socket());
    }

    /// host-local's `dataDir` in the conflist.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("ipam")
    }

    /// The config RunPodSandbox gets for pod `name`: what kubelet sends,
    /// less DNS, ports and security settings the tests do not need. The
    /// cgroup parent is the stage's, so the pods' cgroups are found again.
    pub fn pod_config(&self, name: &str) -> PodSandboxConfig {
        PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: name.into(),
                uid: self.pod_uid(name),
                namespace: "railcni-cri".into(),
                attempt: 0,
            }),
            hostname: name.into(),
            linux: Some(LinuxPodSandboxConfig { cgroup_parent: self.cgroup_parent() }),
        }
    }

    /// The metadata UID of pod `name`: unique to this stage, so the pod's
    /// lines in containerd's log are found by it.
    pub fn pod_uid(&self, name: &str) -> String {
        format!("{}-{name}", self.tag)
    }

    /// RunPodSandbox, then its status.
    pub fn run_pod(&mut self, name: &str) -> Pod {
        let id = self.cri.run_pod(self.pod_config(name)).unwrap_or_else(|e| panic!("RunPodSandbox {name}: {e}"));
        self.ids.push(id.clone());
        self.pod(&id)
    }

    /// Records a sandbox started through another client of this stage's
    /// containerd (as the concurrent RunPodSandbox calls are).
    pub fn adopt(&mut self, id: &str) -> Pod {
        self.ids.push(id.to_owned());
        self.pod(id)
    }

    /// PodSandboxStatus of a running pod.
    pub fn pod(&mut self, id: &str) -> Pod {
        let resp = self.cri.status(id).unwrap_or_else(|e| panic!("PodSandboxStatus {id}: {e}"));
        let status = resp.status.expect("status");
        let ready = status.state() == PodSandboxState::SandboxReady;
        let ip = status.network.map(|n| n.ip).unwrap_or_default();
        let info: Value = serde_json::from_str(resp.info.get("info").expect("verbose info")).expect("info is JSON");
        let namespaces = info["runtimeSpec"]["linux"]["namespaces"].as_array().expect("runtime spec namespaces");
        let netns = namespaces.iter().find(|n| n["type"] == "network").and_then(|n| n["path"].as_str());
        let netns = PathBuf::from(netns.expect("a network namespace path"));
        if !self.netns.contains(&netns) {
            self.netns.push(netns.clone());
        }
        Pod { id: id.to_owned(), ready, ip, netns }
    }

    /// StopPodSandbox (the CNI DEL, the netns removed), then
    /// RemovePodSandbox, as kubelet ends a pod.
    pub fn remove_pod(&mut self, id: &str) {
        self.cri.stop(id).unwrap_or_else(|e| panic!("StopPodSandbox {id}: {e}"));
        self.cri.remove(id).unwrap_or_else(|e| panic!("RemovePodSandbox {id}: {e}"));
    }

    /// Panics unless the pod works: its reported IP is on its `eth0` and
    /// answers a ping from the node.
    pub fn assert_up(&self, pod: &Pod) {
        assert!(pod.ready, "pod {} is not SANDBOX_READY", pod.id);
        assert!(!pod.ip.is_empty(), "pod {} has no IP in PodSandboxStatus", pod.id);
        let on_eth0 = node::addresses_in(&pod.netns, "eth0");
        assert!(on_eth0.contains(&pod.ip), "pod {}: status says {}, eth0 has {on_eth0:?}", pod.id, pod.ip);
        // What Remove must take away is there now: the checks of
        // `remove_and_assert_gone` see it.
        let footprint = self.footprint(pod);
        let kinds = ["netns ", "cni cache ", "shim socket ", "cgroup "];
        let missing: Vec<_> = kinds.iter().filter(|k| !footprint.iter().any(|f| f.starts_with(*k))).collect();
        assert!(missing.is_empty(), "pod {}: no {missing:?} while it runs: {footprint:?}", pod.id);
        let ping = self.node.ping(&pod.ip);
        assert!(
            ping.status.success(),
            "node cannot ping pod {} at {}: {}",
            pod.id,
            pod.ip,
            String::from_utf8_lossy(&ping.stdout)
        );
    }

    /// Stop + Remove, then panics if anything of the pod is left, or if
    /// containerd did not tear its network down twice: Stop's DEL, and
    /// Remove's, made after Stop removed the netns.
    pub fn remove_and_assert_gone(&mut self, pod: &Pod) {
        self.remove_pod(&pod.id);
        let left = self.footprint(pod);
        assert!(left.is_empty(), "pod {} left after Stop + Remove: {left:?}", pod.id);
        let log = fs::read_to_string(self.containerd.log()).expect("containerd log");
        let teardown = format!(r#"msg="TearDown network for sandbox \"{}\" successfully""#, pod.id);
        let teardowns = log.lines().filter(|l| l.contains(&teardown)).count();
        assert_eq!(teardowns, 2, "pod {}: containerd's successful network teardowns", pod.id);
    }

    /// What the pod has on the machine outside the stage's directory, as
    /// readable lines: its netns, libcni's cache files, its shim's socket
    /// and its cgroups.
    pub fn footprint(&self, pod: &Pod) -> Vec<String> {
        let mut left = Vec::new();
        if pod.netns.exists() {
            left.push(format!("netns {}", pod.netns.display()));
        }
        left.extend(host_files::cache_files(&pod.id).iter().map(|f| format!("cni cache {}", f.display())));
        let socket = host_files::shim_socket(&self.containerd.socket(), &pod.id);
        if socket.exists() {
            left.push(format!("shim socket {}", socket.display()));
        }
        left.extend(
            self.cgroups().iter().filter(|c| c.join(&pod.id).exists()).map(|c| format!("cgroup {}", c.display())),
        );
        left
    }

    /// host-local's reservations in the data dir: the files named by an address.
    pub fn reservations(&self) -> Vec<String> {
        let Ok(networks) = fs::read_dir(self.data_dir()) else { return Vec::new() };
        let files = networks.flatten().flat_map(|n| fs::read_dir(n.path()).into_iter().flatten().flatten());
        let names = files.map(|f| f.file_name().to_string_lossy().into_owned());
        names.filter(|n| n.parse::<std::net::IpAddr>().is_ok()).collect()
    }

    fn cgroup_parent(&self) -> String {
        format!("/{}", self.tag)
    }

    /// The stage's cgroup parent in every cgroup hierarchy mounted.
    fn cgroups(&self) -> Vec<PathBuf> {
        let root = Path::new("/sys/fs/cgroup");
        let hierarchies = fs::read_dir(root).into_iter().flatten().flatten().map(|e| e.path());
        hierarchies.map(|h| h.join(&self.tag)).filter(|c| c.is_dir()).collect()
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        for pid in self.containerd.shim_family() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        self.containerd.stop();
        for netns in &self.netns {
            host_files::remove_netns(netns);
        }
        for id in &self.ids {
            for file in host_files::cache_files(id) {
                let _ = fs::remove_file(file);
            }
            let _ = fs::remove_file(host_files::shim_socket(&self.containerd.socket(), id));
        }
        // Pods' cgroups first (runc leaves none after a clean stop), then the parent.
        for cgroup in self.cgroups() {
            for id in &self.ids {
                let _ = fs::remove_dir(cgroup.join(id));
            }
            let _ = fs::remove_dir(&cgroup);
        }
        host_files::unmount_all_under(self.dir.path());
        host_files::remove_shim_dirs_if_empty();
    }
}
