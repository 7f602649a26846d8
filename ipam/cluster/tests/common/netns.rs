//! Named network namespaces for the macvlan sample: one private "host"
//! namespace holding a veth pair whose one end is the macvlan master, and
//! pod namespaces. Drop deletes them (which deletes their links), so a
//! failing test leaves nothing, and nothing touches the real host's links.

use std::process::Command;

pub struct NetNs {
    pub name: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip (iproute2)");
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl NetNs {
    pub fn new(name: &str) -> NetNs {
        ip(&["netns", "add", name]);
        let ns = NetNs { name: name.to_string() };
        ip(&["-n", name, "link", "set", "lo", "up"]);
        ns
    }

    pub fn path(&self) -> String {
        format!("/var/run/netns/{}", self.name)
    }

    /// A veth pair `master`/`peer`, both up: the master for macvlan.
    pub fn add_veth_master(&self, master: &str, peer: &str) {
        ip(&["-n", &self.name, "link", "add", master, "type", "veth", "peer", "name", peer]);
        ip(&["-n", &self.name, "link", "set", master, "up"]);
        ip(&["-n", &self.name, "link", "set", peer, "up"]);
    }

    /// The addresses (`a.b.c.d/len`) on `ifname` in this namespace.
    pub fn addresses(&self, ifname: &str) -> Vec<String> {
        let out = Command::new("ip").args(["-n", &self.name, "-j", "addr", "show", "dev", ifname]).output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v.as_array()
            .into_iter()
            .flatten()
            .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
            .map(|a| format!("{}/{}", a["local"].as_str().unwrap_or_default(), a["prefixlen"]))
            .collect()
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}
