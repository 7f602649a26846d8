//! A disposable multi-rail node: a [`Lab`] whose "host" namespace has one
//! veth parent per rail (`par<k>`), the other end of each in a peer
//! namespace of its own (the rail's leaf switch and gateway). Each peer also
//! owns a "remote" address `172.16.<k>.1` on its loopback, which only rail
//! *k* reaches. One pod gets `net<k>` = a macvlan on `par<k>`, one network
//! per rail. Everything goes away on drop.
//!
//! [`RailNode`] is what the 8-rail checks (`crate::rails_check`) need of
//! such a node; the SR-IOV node of the VM stage (`crate::lab::sriov_rails`)
//! is another.

use crate::binary::{Binary, Invocation};
use crate::driver::{Call, DriverOut};
use crate::lab::{Lab, plugin_object};
use crate::netns::Namespace;
use crate::profile::{MACVLAN, Profile};
use crate::{Outcome, conf};
use serde_json::{Value, json};
use std::ops::Deref;
use std::path::Path;

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

impl Rail {
    /// Rail `k` of a node whose networks are named after `prefix`, on the
    /// host-side `parent`: `10.70.<k>.<10+k>/24` (distinct) or
    /// `10.71.0.<10+k>/24` (shared), the gateway `.1`, the remote `172.16.<k>.1`.
    pub fn plan(prefix: &str, k: u32, subnets: Subnets, parent: &str) -> Rail {
        let (subnet, gw, addr) = match subnets {
            Subnets::Distinct => (format!("10.70.{k}.0/24"), format!("10.70.{k}.1"), format!("10.70.{k}.{}", 10 + k)),
            Subnets::Shared => ("10.71.0.0/24".to_string(), "10.71.0.1".to_string(), format!("10.71.0.{}", 10 + k)),
        };
        Rail {
            k,
            net: format!("{prefix}-rail{k}"),
            parent: parent.to_string(),
            ifname: format!("net{k}"),
            addr,
            subnet,
            gw,
            remote: format!("172.16.{k}.1"),
        }
    }

    /// host-local storing into `data_dir`, handing out exactly the rail's
    /// address, with its gateway and a route to the remotes (172.16/16).
    pub fn host_local(&self, data_dir: &Path) -> Value {
        let range =
            json!({ "subnet": self.subnet, "rangeStart": self.addr, "rangeEnd": self.addr, "gateway": self.gw });
        let mut ipam = Profile::host_local(data_dir, json!([[range]]));
        ipam["routes"] = json!([{ "dst": "172.16.0.0/16" }]);
        ipam
    }

    /// `policy` as the `policyRouting` key (no key when `Value::Null`).
    pub fn policy_key(policy: &Value) -> Value {
        if policy.is_null() { json!({}) } else { json!({ "policyRouting": policy }) }
    }

    /// The peer's side: the gateway address on its link `gw0` (already in
    /// `peer`), the remote address on its loopback, both up.
    pub fn configure_peer(&self, peer: &Namespace) -> Result<(), String> {
        let prefix = self.subnet.split('/').nth(1).unwrap_or("24");
        peer.ip(&["addr", "add", &format!("{}/{prefix}", self.gw), "dev", "gw0"])?;
        peer.ip(&["link", "set", "gw0", "up"])?;
        peer.ip(&["addr", "add", &format!("{}/32", self.remote), "dev", "lo"])?;
        Ok(())
    }
}

/// What the 8-rail checks need of a node: one pod with rails `net1`..`netN`
/// (one network each), and per rail a peer namespace whose link `gw0` only
/// that rail reaches. Provided: the pod-side probes.
pub trait RailNode: Sync {
    fn pod(&self) -> &Namespace;
    fn peers(&self) -> &[Namespace];
    fn rails(&self) -> &[Rail];
    /// Rail `k`'s config as a runtime passes it to the plugin, with `policy`
    /// as `policyRouting` (none when `Value::Null`).
    fn rail_conf(&self, version: &str, k: u32, policy: &Value) -> Value;
    /// `verb` for rail `k` (`CNI_IFNAME` net<k>) with `stdin`, the plugin exec'd directly.
    fn call(&self, verb: &str, k: u32, stdin: &Value) -> Outcome;
    /// One conflist per rail for [`RailNode::drive`] (Multus-style: one network per rail).
    fn write_rail_conflists(&self, version: &str, policy: &Value);
    /// The Go driver where the plugins run, for rail `k` (`CNI_IFNAME` net<k>).
    fn drive_rail(&self, verb: &'static str, k: u32) -> DriverOut;
    /// host-local reservations still held on any rail's network.
    fn leases(&self) -> Vec<String>;

    fn rail(&self, k: u32) -> &Rail {
        &self.rails()[k as usize - 1]
    }

    /// `verb` for rail `k` with the ADD result `prev` as prevResult.
    fn call_with_prev(&self, verb: &str, k: u32, conf: &Value, prev: &Value) -> Outcome {
        self.call(verb, k, &conf::with_prev_result(conf, prev))
    }

    /// `ip route get <remote k> from <addr k>` in the pod: (dev, via).
    fn route_get(&self, k: u32) -> Result<(String, String), String> {
        let r = self.rail(k);
        let out = self.pod().ip(&["route", "get", &r.remote, "from", &r.addr])?;
        let word_after = |w: &str| {
            let words: Vec<&str> = out.split_whitespace().collect();
            words.iter().position(|x| *x == w).and_then(|i| words.get(i + 1)).map(|s| s.to_string()).unwrap_or_default()
        };
        Ok((word_after("dev"), word_after("via")))
    }

    /// One ping from rail `k`'s address to its remote.
    fn ping_remote(&self, k: u32) -> Result<(), String> {
        let r = self.rail(k);
        self.pod().ping_with(&["-W", "2", "-I", &r.addr], &r.remote)
    }

    /// For every (peer j, rail k): does the pod answer, on rail j, an ARP
    /// request for rail k's address? Each peer asks for every rail's
    /// address at once (a host route on its link, one ping each), then its
    /// neighbour table says which were answered. `answered[j-1][k-1]`.
    fn arp_matrix(&self) -> Vec<Vec<bool>> {
        let (peers, rails) = (self.peers(), self.rails());
        for p in peers {
            let _ = p.ip(&["neigh", "flush", "dev", "gw0"]);
            for r in rails {
                p.ip(&["route", "replace", &format!("{}/32", r.addr), "dev", "gw0"]).unwrap_or_else(|e| panic!("{e}"));
            }
        }
        std::thread::scope(|s| {
            for p in peers {
                for r in rails {
                    s.spawn(move || p.exec(&["ping", "-c", "1", "-W", "1", &r.addr]));
                }
            }
        });
        let matrix = peers
            .iter()
            .map(|p| {
                rails
                    .iter()
                    .map(|r| {
                        let n = p.ip_json(&["neigh", "show", &r.addr, "dev", "gw0"]).unwrap_or(Value::Null);
                        n.as_array().is_some_and(|a| a.iter().any(|e| e.get("lladdr").is_some()))
                    })
                    .collect()
            })
            .collect();
        for p in peers {
            for r in rails {
                let _ = p.ip(&["route", "del", &format!("{}/32", r.addr), "dev", "gw0"]);
            }
        }
        matrix
    }

    /// The pod's IPv4 rules as `ip -j rule` gives them.
    fn rules(&self) -> Vec<Value> {
        let v = self.pod().ip_json(&["-4", "rule", "show"]).unwrap_or_else(|e| panic!("{e}"));
        v.as_array().cloned().unwrap_or_default()
    }
}

pub struct RailsLab {
    // Drop order: peers, then the lab (pods, host).
    peers: Vec<Namespace>,
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
            let rail = Rail::plan(&lab.prefix, k, subnets, &format!("par{k}"));
            let peer = Namespace::create(&format!("{}-peer{k}", lab.prefix)).unwrap_or_else(|e| panic!("{e}"));
            wire(&lab.host, &peer, &rail).unwrap_or_else(|e| panic!("rail {k}: {e}"));
            peers.push(peer);
            rails.push(rail);
        }
        RailsLab { peers, lab, rails, subnets }
    }

    pub fn pod(&self) -> &Namespace {
        self.lab.pod(POD)
    }

    pub fn peer(&self, k: u32) -> &Namespace {
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
        plugin_object(MACVLAN.keys_on(self.tmp(), &r.parent), Rail::policy_key(policy), r.host_local(&self.ipam_dir()))
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
    pub fn exec(&self, plugin: &Binary, verb: &str, k: u32, stdin: &Value) -> Outcome {
        let inv = Invocation::attachment_verb(verb)
            .attachment(&self.cid(POD), &self.rail(k).ifname)
            .set("CNI_NETNS", &self.pod().path_str())
            .stdin_json(stdin);
        self.exec_plugin(plugin, &inv)
    }

    /// `verb` for rail `k` with the ADD result `prev` as prevResult.
    pub fn exec_with_prev(&self, plugin: &Binary, verb: &str, k: u32, conf: &Value, prev: &Value) -> Outcome {
        self.exec(plugin, verb, k, &conf::with_prev_result(conf, prev))
    }
}

impl RailNode for RailsLab {
    fn pod(&self) -> &Namespace {
        self.lab.pod(POD)
    }

    fn peers(&self) -> &[Namespace] {
        &self.peers
    }

    fn rails(&self) -> &[Rail] {
        &self.rails
    }

    fn rail_conf(&self, version: &str, k: u32, policy: &Value) -> Value {
        self.conf(version, k, policy)
    }

    fn call(&self, verb: &str, k: u32, stdin: &Value) -> Outcome {
        self.exec(&Binary::ours("macvlan"), verb, k, stdin)
    }

    fn write_rail_conflists(&self, version: &str, policy: &Value) {
        self.write_conflists(version, policy)
    }

    fn drive_rail(&self, verb: &'static str, k: u32) -> DriverOut {
        let r = self.rail(k);
        self.drive(&Call::new(verb, &r.net, &self.pod().path_str()).container_id(&self.cid(POD)).ifname(&r.ifname))
    }

    fn leases(&self) -> Vec<String> {
        self.rails
            .iter()
            .flat_map(|r| crate::store::reservations(&self.ipam_dir().join(&r.net)).unwrap_or_default().into_keys())
            .collect()
    }
}

/// The veth `par<k>` (host) ↔ `gw0` (peer, the rail's gateway address and
/// the remote address on its loopback), both up.
fn wire(host: &Namespace, peer: &Namespace, r: &Rail) -> Result<(), String> {
    host.ip(&["link", "add", &r.parent, "type", "veth", "peer", "name", "gw0", "netns", peer.name()])?;
    host.ip(&["link", "set", &r.parent, "up"])?;
    r.configure_peer(peer)
}
