//! A disposable multi-rail node: a [`Lab`] whose "host" namespace has one
//! veth parent per rail (`par<k>`), the other end of each in a peer
//! namespace of its own (the rail's leaf switch and gateway). Each peer also
//! owns a "remote" address `172.16.<k>.1` on its loopback, which only rail
//! *k* reaches. One pod gets `net<k>` = a macvlan on `par<k>`, one network
//! per rail. Everything goes away on drop.

use crate::lab::{Lab, plugin_object};
use crate::netns::NetNs;
use crate::plugin::{Invocation, Plugin};
use crate::{Outcome, conf};
use serde_json::{Value, json};
use std::ops::Deref;

/// Rail subnets: one per rail, or one shared by all rails (flat L2 rails).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Subnets {
    Distinct,
    Shared,
}

/// One rail's addressing.
#[derive(Debug, Clone)]
pub struct Rail {
    pub k: u32,
    /// The network (and conflist) name.
    pub net: String,
    /// The macvlan master in the host namespace.
    pub parent: String,
    /// The pod's interface, `net<k>` as Multus names it.
    pub ifname: String,
    /// The pod's address (IPAM hands out exactly this one).
    pub addr: String,
    pub subnet: String,
    pub gw: String,
    /// An address only this rail's peer has.
    pub remote: String,
}

pub struct RailsLab {
    // Drop order: peers, then the lab (pods, host).
    peers: Vec<NetNs>,
    lab: Lab,
    pub rails: Vec<Rail>,
    pub subnets: Subnets,
}

impl Deref for RailsLab {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        &self.lab
    }
}

/// The pod (index into the lab's pods).
pub const POD: usize = 0;

impl RailsLab {
    /// `n` rails and one pod; `cni_path` is what the plugins search.
    pub fn new(cni_path: &str, n: u32, subnets: Subnets) -> RailsLab {
        let mut lab = Lab::new(cni_path);
        lab.add_pod();
        let mut peers = Vec::new();
        let mut rails = Vec::new();
        for k in 1..=n {
            let (subnet, gw, addr) = match subnets {
                Subnets::Distinct => {
                    (format!("10.70.{k}.0/24"), format!("10.70.{k}.1"), format!("10.70.{k}.{}", 10 + k))
                }
                Subnets::Shared => ("10.71.0.0/24".to_string(), "10.71.0.1".to_string(), format!("10.71.0.{}", 10 + k)),
            };
            let rail = Rail {
                k,
                net: format!("{}-rail{k}", lab.prefix),
                parent: format!("par{k}"),
                ifname: format!("net{k}"),
                addr,
                subnet,
                gw,
                remote: format!("172.16.{k}.1"),
            };
            let peer = NetNs::create(&format!("{}-peer{k}", lab.prefix)).unwrap_or_else(|e| panic!("{e}"));
            wire(&lab.host, &peer, &rail).unwrap_or_else(|e| panic!("rail {k}: {e}"));
            peers.push(peer);
            rails.push(rail);
        }
        RailsLab { peers, lab, rails, subnets }
    }

    pub fn pod(&self) -> &NetNs {
        self.lab.pod(POD)
    }

    pub fn peer(&self, k: u32) -> &NetNs {
        &self.peers[k as usize - 1]
    }

    pub fn rail(&self, k: u32) -> &Rail {
        &self.rails[k as usize - 1]
    }

    /// The plugin object of rail `k`: macvlan on its parent, host-local
    /// handing out the rail's address, a route to the remotes (172.16/16),
    /// and `policy` as `policyRouting` (none when `Value::Null`).
    pub fn plugin(&self, k: u32, policy: &Value) -> Value {
        let r = self.rail(k);
        let ipam = json!({
            "type": "host-local",
            "dataDir": self.ipam_dir().display().to_string(),
            "ranges": [[{ "subnet": r.subnet, "rangeStart": r.addr, "rangeEnd": r.addr, "gateway": r.gw }]],
            "routes": [{ "dst": "172.16.0.0/16" }],
        });
        let extra = if policy.is_null() { json!({}) } else { json!({ "policyRouting": policy }) };
        plugin_object(json!({ "type": "macvlan", "master": r.parent }), extra, ipam)
    }

    /// Rail `k`'s config as a runtime passes it to the plugin.
    pub fn conf(&self, version: &str, k: u32, policy: &Value) -> Value {
        let mut c = self.plugin(k, policy);
        c["cniVersion"] = json!(version);
        c["name"] = json!(self.rail(k).net);
        c
    }

    /// One conflist per rail, for the driver (Multus-style: one network per rail).
    pub fn write_conflists(&self, version: &str, policy: &Value) {
        for r in &self.rails {
            let list = json!({ "cniVersion": version, "name": r.net, "plugins": [self.plugin(r.k, policy)] });
            let path = self.tmp().join("net.d").join(format!("{}.conflist", r.net));
            std::fs::write(&path, serde_json::to_string_pretty(&list).expect("json")).expect("write conflist");
        }
    }

    /// `verb` for rail `k` with `stdin`, the plugin exec'd directly in the host namespace.
    pub fn exec(&self, plugin: &Plugin, verb: &str, k: u32, stdin: &Value) -> Outcome {
        let inv = Invocation::attachment_verb(verb)
            .attachment(&self.cid(POD), &self.rail(k).ifname)
            .set("CNI_NETNS", &self.pod().path_str())
            .stdin_json(stdin);
        self.exec_plugin(plugin, &inv)
    }

    /// `verb` for rail `k` with the ADD result `prev` as prevResult.
    pub fn exec_with_prev(&self, plugin: &Plugin, verb: &str, k: u32, conf: &Value, prev: &Value) -> Outcome {
        self.exec(plugin, verb, k, &conf::with_prev_result(conf, prev))
    }

    /// `ip route get <remote k> from <addr k>` in the pod: (dev, via).
    pub fn route_get(&self, k: u32) -> Result<(String, String), String> {
        let r = self.rail(k);
        let out = self.pod().ip(&["route", "get", &r.remote, "from", &r.addr])?;
        let word_after = |w: &str| {
            let words: Vec<&str> = out.split_whitespace().collect();
            words.iter().position(|x| *x == w).and_then(|i| words.get(i + 1)).map(|s| s.to_string()).unwrap_or_default()
        };
        Ok((word_after("dev"), word_after("via")))
    }

    /// One ping from rail `k`'s address to its remote.
    pub fn ping_remote(&self, k: u32) -> Result<(), String> {
        let r = self.rail(k);
        self.pod().ping_with(&["-W", "2", "-I", &r.addr], &r.remote)
    }

    /// For every (peer j, rail k): does the pod answer, on rail j, an ARP
    /// request for rail k's address? Each peer asks for every rail's
    /// address at once (a host route on its link, one ping each), then its
    /// neighbour table says which were answered. `answered[j-1][k-1]`.
    pub fn arp_matrix(&self) -> Vec<Vec<bool>> {
        for p in &self.peers {
            let _ = p.ip(&["neigh", "flush", "dev", "gw0"]);
            for r in &self.rails {
                p.ip(&["route", "replace", &format!("{}/32", r.addr), "dev", "gw0"]).unwrap_or_else(|e| panic!("{e}"));
            }
        }
        std::thread::scope(|s| {
            for p in &self.peers {
                for r in &self.rails {
                    s.spawn(move || p.exec(&["ping", "-c", "1", "-W", "1", &r.addr]));
                }
            }
        });
        let matrix = self
            .peers
            .iter()
            .map(|p| {
                self.rails
                    .iter()
                    .map(|r| {
                        let n = p.ip_json(&["neigh", "show", &r.addr, "dev", "gw0"]).unwrap_or(Value::Null);
                        n.as_array().is_some_and(|a| a.iter().any(|e| e.get("lladdr").is_some()))
                    })
                    .collect()
            })
            .collect();
        for p in &self.peers {
            for r in &self.rails {
                let _ = p.ip(&["route", "del", &format!("{}/32", r.addr), "dev", "gw0"]);
            }
        }
        matrix
    }

    /// The pod's IPv4 rules as `ip -j rule` gives them.
    pub fn rules(&self) -> Vec<Value> {
        let v = self.pod().ip_json(&["-4", "rule", "show"]).unwrap_or_else(|e| panic!("{e}"));
        v.as_array().cloned().unwrap_or_default()
    }
}

/// The veth `par<k>` (host) ↔ `gw0` (peer, the rail's gateway address and
/// the remote address on its loopback), both up.
fn wire(host: &NetNs, peer: &NetNs, r: &Rail) -> Result<(), String> {
    host.ip(&["link", "add", &r.parent, "type", "veth", "peer", "name", "gw0", "netns", peer.name()])?;
    host.ip(&["link", "set", &r.parent, "up"])?;
    let prefix = r.subnet.split('/').nth(1).unwrap_or("24");
    peer.ip(&["addr", "add", &format!("{}/{prefix}", r.gw), "dev", "gw0"])?;
    peer.ip(&["link", "set", "gw0", "up"])?;
    peer.ip(&["addr", "add", &format!("{}/32", r.remote), "dev", "lo"])?;
    Ok(())
}
