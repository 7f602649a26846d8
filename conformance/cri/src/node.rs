//! The "node": a network namespace of the test's own in which containerd
//! runs, so the bridges and links the plugins create on the host side are
//! in it and never in the machine's namespace. Pods are reached from it as
//! kubelet's node reaches them.

use std::path::PathBuf;
use std::process::{Command, Output};

pub struct Node {
    pub name: String,
}

impl Node {
    /// A new named namespace (`/run/netns/<name>`) with `lo` up: the CRI
    /// plugin's streaming server listens on 127.0.0.1 in it.
    pub fn new(name: &str) -> Node {
        let node = Node { name: name.to_owned() };
        run("ip", &["netns", "add", name]);
        node.ip(&["link", "set", "lo", "up"]);
        node
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// `ip -n <node> <args>`, which must succeed.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// `ip -n <node> -j <args>`, decoded.
    pub fn ip_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["-j"];
        all.extend_from_slice(args);
        let out = self.ip(&all);
        serde_json::from_str(if out.trim().is_empty() { "[]" } else { &out }).expect("ip -j prints JSON")
    }

    /// Names of the node's links of `kind` (`ip link show type <kind>`).
    pub fn links(&self, kind: &str) -> Vec<String> {
        let links = self.ip_json(&["link", "show", "type", kind]);
        links.as_array().unwrap().iter().map(|l| l["ifname"].as_str().unwrap().to_owned()).collect()
    }

    /// One ping from the node to `addr`.
    pub fn ping(&self, addr: &str) -> Output {
        let ns = format!("--net={}", self.path().display());
        Command::new("nsenter").args([&ns, "ping", "-c1", "-W2", addr]).output().expect("nsenter ping")
    }
}

impl Drop for Node {
    /// Deleting the namespace deletes every link the plugins put in it.
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// Runs `cmd args`, which must succeed: its stdout.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(out.status.success(), "{cmd} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// The IPv4 addresses on `ifname` in the network namespace at `netns`.
pub fn addresses_in(netns: &std::path::Path, ifname: &str) -> Vec<String> {
    let ns = format!("--net={}", netns.display());
    let out = run("nsenter", &[&ns, "ip", "-j", "-4", "addr", "show", "dev", ifname]);
    let links: serde_json::Value = serde_json::from_str(&out).expect("ip -j prints JSON");
    let infos = links.as_array().into_iter().flatten().flat_map(|l| l["addr_info"].as_array().into_iter().flatten());
    infos.filter_map(|a| a["local"].as_str().map(str::to_owned)).collect()
}
