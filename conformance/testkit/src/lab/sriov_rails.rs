//! The 8-rail node of the VM stage on SR-IOV: one pod whose rails
//! `net1`..`net8` are VFs, spread over the VM's two igb PFs (QEMU's igb has
//! at most 7 VFs, so 8 rails need both), through the railcni `sriov` plugin.
//!
//! Each rail is its own L2 segment: the plugin gives rail *k*'s VF the port
//! VLAN 100 + *k* (`vlan`), and rail *k*'s peer namespace holds a VLAN link
//! `gw0` with that id on the same PF, so the NIC's internal switch carries
//! rail *k*'s frames to that peer and to no other. The peer has the rail's
//! gateway address and `172.16.<k>.1` on its loopback, as in
//! [`crate::lab::rails`]. The plugins and the driver run in the test's own
//! namespace, where the PFs are. Everything goes away on drop, and the VFs
//! are disabled.

use crate::binary::{Binary, Invocation, our_cni_path};
use crate::driver::{self, Call, Dirs, DriverOut};
use crate::lab::plugin_object;
use crate::lab::rails::{Rail, RailNode, Subnets};
use crate::lab::sriov::{SriovLab, igb_pfs};
use crate::netns::{Namespace, unique_prefix};
use crate::profile::SRIOV;
use crate::{Outcome, store};
use serde_json::{Value, json};
use std::path::PathBuf;
use tempfile::TempDir;

pub struct SriovRailsLab {
    // Field order is drop order: the pod (its VFs come back here), the peers
    // (their VLAN links go with them), then the PFs' VFs are disabled.
    pod: Namespace,
    peers: Vec<Namespace>,
    pub pfs: Vec<SriovLab>,
    /// Rail k's VF at `k - 1`: (index into `pfs`, VF index on that PF).
    vfs: Vec<(usize, usize)>,
    rails: Vec<Rail>,
    tmp: TempDir,
    pub prefix: String,
}

/// Rail `k`'s port VLAN.
pub fn vlan(k: u32) -> u32 {
    100 + k
}

impl SriovRailsLab {
    /// `n` rails, the first half on the first PF, the rest on the second.
    pub fn new(n: u32, subnets: Subnets) -> SriovRailsLab {
        let names = igb_pfs();
        assert!(names.len() >= 2, "the 8-rail SR-IOV tests need two igb PFs (conformance/vm/run.sh), found {names:?}");
        let per_pf = n.div_ceil(2) as usize;
        let pfs: Vec<SriovLab> = names.into_iter().take(2).map(|pf| SriovLab::on_pf(pf, per_pf)).collect();
        let prefix = unique_prefix("rcv");
        let tmp = tempfile::Builder::new().prefix("railcni-sriov-rails-").tempdir().expect("temp dir");
        for d in ["net.d", "ipam", "cache"] {
            std::fs::create_dir(tmp.path().join(d)).expect("mkdir");
        }
        let pod = Namespace::create(&format!("{prefix}-pod")).unwrap_or_else(|e| panic!("{e}"));
        let (mut peers, mut rails, mut vfs) = (Vec::new(), Vec::new(), Vec::new());
        for k in 1..=n {
            let (i, vf) = ((k as usize - 1) / per_pf, (k as usize - 1) % per_pf);
            let rail = Rail::plan(&prefix, k, subnets, &pfs[i].pf);
            let peer = Namespace::create(&format!("{prefix}-peer{k}")).unwrap_or_else(|e| panic!("{e}"));
            wire(&peer, &rail).unwrap_or_else(|e| panic!("rail {k}: {e}"));
            peers.push(peer);
            rails.push(rail);
            vfs.push((i, vf));
        }
        SriovRailsLab { pod, peers, pfs, vfs, rails, tmp, prefix }
    }

    /// The container ID of the pod.
    pub fn cid(&self) -> String {
        format!("{}-ctr", self.prefix)
    }

    /// The plugin object of rail `k`: its VF with the rail's port VLAN,
    /// host-local handing out the rail's address, `policy` as `policyRouting`.
    pub fn plugin(&self, k: u32, policy: &Value) -> Value {
        let (i, vf) = self.vfs[k as usize - 1];
        // Every rail's records are in the first PF lab's data dir.
        let mut base = SRIOV.keys_on(self.pfs[0].tmp(), &self.pfs[i].vfs[vf].pci);
        base["vlan"] = json!(vlan(k));
        plugin_object(base, Rail::policy_key(policy), self.rail(k).host_local(&self.tmp.path().join("ipam")))
    }

    /// What DEL must restore, per rail: the PF's view of its VF and its
    /// netdev here ([`SriovLab::snapshot`]).
    pub fn snapshots(&self) -> Vec<String> {
        self.vfs.iter().map(|&(i, vf)| self.pfs[i].snapshot(vf)).collect()
    }

    /// The sriov plugin's records: every rail's are in the first PF lab's data dir.
    pub fn records(&self) -> Vec<String> {
        self.pfs[0].records()
    }

    fn dirs(&self) -> Dirs {
        Dirs {
            conf_dir: self.tmp.path().join("net.d"),
            cni_path: our_cni_path(&["sriov", "host-local"]),
            cache_dir: self.tmp.path().join("cache"),
        }
    }

    fn conflist_path(&self, r: &Rail) -> PathBuf {
        self.tmp.path().join("net.d").join(format!("{}.conflist", r.net))
    }
}

impl RailNode for SriovRailsLab {
    fn pod(&self) -> &Namespace {
        &self.pod
    }

    fn peers(&self) -> &[Namespace] {
        &self.peers
    }

    fn rails(&self) -> &[Rail] {
        &self.rails
    }

    fn rail_conf(&self, version: &str, k: u32, policy: &Value) -> Value {
        let mut c = self.plugin(k, policy);
        c["cniVersion"] = json!(version);
        c["name"] = json!(self.rail(k).net);
        c
    }

    fn call(&self, verb: &str, k: u32, stdin: &Value) -> Outcome {
        let inv = Invocation::attachment_verb(verb)
            .attachment(&self.cid(), &self.rail(k).ifname)
            .set("CNI_NETNS", &self.pod.path_str())
            .stdin_json(stdin);
        Binary::ours("sriov").call(&inv)
    }

    fn write_rail_conflists(&self, version: &str, policy: &Value) {
        for r in &self.rails {
            let list = json!({ "cniVersion": version, "name": r.net, "plugins": [self.plugin(r.k, policy)] });
            std::fs::write(self.conflist_path(r), serde_json::to_string_pretty(&list).expect("json"))
                .expect("write conflist");
        }
    }

    fn drive_rail(&self, verb: &'static str, k: u32) -> DriverOut {
        let r = self.rail(k);
        let call = Call::new(verb, &r.net, &self.pod.path_str()).container_id(&self.cid()).ifname(&r.ifname);
        driver::run_here(&self.dirs(), &call)
    }

    fn leases(&self) -> Vec<String> {
        let ipam = self.tmp.path().join("ipam");
        self.rails
            .iter()
            .flat_map(|r| store::reservations(&ipam.join(&r.net)).unwrap_or_default().into_keys())
            .collect()
    }
}

/// Rail `r`'s peer: a VLAN link on the rail's PF with the rail's port VLAN,
/// created as `gw0` inside `peer` (the PF stays here).
fn wire(peer: &Namespace, r: &Rail) -> Result<(), String> {
    let id = vlan(r.k).to_string();
    let argv = ["link", "add", "link", &r.parent, "name", "gw0", "netns", peer.name(), "type", "vlan", "id", &id];
    crate::netns::run_ok(std::process::Command::new("ip").args(argv))?;
    r.configure_peer(peer)
}
