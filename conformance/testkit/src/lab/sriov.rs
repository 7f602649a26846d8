//! The SR-IOV lab of the VM stage: QEMU's emulated igb (82576) PF with VFs
//! enabled for one test and disabled again on drop, pod namespaces, and a
//! temp dir for the plugin's records and host-local's leases.
//!
//! The sriov plugin runs in the namespace the PF lives in (the VM's own),
//! exec'd directly as a runtime would: VFs are created there, and a VF whose
//! pod netns dies comes back there.

use crate::binary::{Binary, Invocation};
use crate::conf;
use crate::netns::{Namespace, run_ok, unique_prefix};
use crate::outcome::Outcome;
use crate::profile::{Profile, SRIOV};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub const VERSION: &str = "1.1.0";

/// One VF: its PCI address and (before any test moved it) its netdev.
#[derive(Debug, Clone)]
pub struct Vf {
    pub pci: String,
    pub netdev: String,
}

pub struct SriovLab {
    // Field order is drop order: pods go before the VFs are disabled.
    pods: Vec<Namespace>,
    pub pf: String,
    pub vfs: Vec<Vf>,
    tmp: TempDir,
    pub prefix: String,
    pub net: String,
}

fn sh(cmd: &str) -> Result<String, String> {
    run_ok(Command::new("sh").args(["-c", cmd])).map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// The netdevs bound to igb, by PCI address (the VM has two igb NICs).
pub fn igb_pfs() -> Vec<String> {
    let mut pfs: Vec<(String, String)> = std::fs::read_dir("/sys/class/net")
        .expect("/sys/class/net")
        .flatten()
        .filter_map(|e| {
            let driver = std::fs::read_link(e.path().join("device/driver")).ok()?;
            if driver.file_name()? != "igb" {
                return None;
            }
            let pci = std::fs::read_link(e.path().join("device")).ok()?;
            Some((pci.file_name()?.to_string_lossy().into_owned(), e.file_name().to_string_lossy().into_owned()))
        })
        .collect();
    pfs.sort();
    pfs.into_iter().map(|(_, name)| name).collect()
}

/// The first igb PF (the lowest PCI address): the one single-PF tests use.
fn igb_pf() -> String {
    igb_pfs().into_iter().next().expect("no netdev is bound to igb: the SR-IOV tests run in the VM stage")
}

fn numvfs_path(pf: &str) -> PathBuf {
    PathBuf::from(format!("/sys/class/net/{pf}/device/sriov_numvfs"))
}

/// Wait for `f` to hold, polling every 100 ms.
pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl SriovLab {
    /// `n` fresh VFs on the igb PF (which is brought up: igb refuses a rate
    /// while the PF has no link), their netdevs registered.
    pub fn new(n: usize) -> SriovLab {
        SriovLab::on_pf(igb_pf(), n)
    }

    /// [`SriovLab::new`] on the igb PF `pf` (one of [`igb_pfs`]).
    pub fn on_pf(pf: String, n: usize) -> SriovLab {
        sh(&format!("ip link set {pf} up")).unwrap();
        std::fs::write(numvfs_path(&pf), "0").expect("resetting sriov_numvfs");
        std::fs::write(numvfs_path(&pf), n.to_string()).expect("enabling VFs");
        let dev = PathBuf::from(format!("/sys/class/net/{pf}/device"));
        let netdev = |i: usize| -> Option<String> {
            let dir = std::fs::read_dir(dev.join(format!("virtfn{i}/net"))).ok()?;
            dir.flatten().next().map(|e| e.file_name().to_string_lossy().into_owned())
        };
        // igbvf binds on the uevent and registers the netdevs asynchronously.
        wait_for("the VF netdevs", Duration::from_secs(30), || (0..n).all(|i| netdev(i).is_some()));
        let vfs = (0..n)
            .map(|i| {
                let pci = std::fs::read_link(dev.join(format!("virtfn{i}"))).expect("virtfn link");
                Vf {
                    pci: pci.file_name().expect("pci").to_string_lossy().into_owned(),
                    netdev: netdev(i).expect("netdev"),
                }
            })
            .collect();
        // igb refuses VF rates while the PF has no carrier.
        let operstate = format!("/sys/class/net/{pf}/operstate");
        wait_for("the PF's carrier", Duration::from_secs(10), || {
            std::fs::read_to_string(&operstate).is_ok_and(|s| s.trim() == "up")
        });
        let prefix = unique_prefix("rcs");
        let tmp = tempfile::Builder::new().prefix("railcni-sriov-").tempdir().expect("temp dir");
        SriovLab { pods: Vec::new(), pf, vfs, tmp, net: prefix.clone(), prefix }
    }

    /// `echo 0 > sriov_numvfs`: the VFs disappear, wherever their netdevs are.
    pub fn disable_vfs(&self) {
        std::fs::write(numvfs_path(&self.pf), "0").expect("disabling VFs");
    }

    pub fn add_pod(&mut self) -> usize {
        let i = self.pods.len();
        self.pods.push(Namespace::create(&format!("{}-pod{i}", self.prefix)).unwrap_or_else(|e| panic!("{e}")));
        i
    }

    pub fn pod(&self, i: usize) -> &Namespace {
        &self.pods[i]
    }

    pub fn cid(&self, i: usize) -> String {
        format!("{}-ctr{i}", self.prefix)
    }

    /// The lab's private directory, which holds [`SriovLab::data_dir`].
    pub fn tmp(&self) -> &Path {
        self.tmp.path()
    }

    /// `name` in the lab's temp dir: another plugin's records (host-device's).
    pub fn tmp_path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// The plugin's records.
    pub fn data_dir(&self) -> PathBuf {
        self.tmp_path("sriov")
    }

    pub fn ipam_dir(&self) -> PathBuf {
        self.tmp.path().join("ipam")
    }

    /// The sriov config for VF `vf` with the keys of `extra`, and host-local on `subnet` (none: no IPAM).
    pub fn conf(&self, vf: usize, extra: Value, subnet: Option<&str>) -> Value {
        let mut c = self.keys(vf);
        c["cniVersion"] = json!(VERSION);
        c["name"] = json!(self.net);
        for (k, v) in extra.as_object().into_iter().flatten() {
            c[k] = v.clone();
        }
        if let Some(s) = subnet {
            c["ipam"] = Profile::host_local(&self.ipam_dir(), json!([[{ "subnet": s }]]));
        }
        c
    }

    /// The sriov profile's keys for VF `vf`: its PCI address, and the
    /// plugin's records in [`SriovLab::data_dir`].
    pub fn keys(&self, vf: usize) -> Value {
        SRIOV.keys_on(self.tmp.path(), &self.vfs[vf].pci)
    }

    /// Runs the sriov plugin here (the PF's namespace) for pod `pod` as `ifname`.
    pub fn call(&self, verb: Invocation, pod: usize, ifname: &str, conf: &Value) -> Outcome {
        self.call_plugin("sriov", verb, pod, ifname, conf)
    }

    /// Runs our `plugin` here, as [`SriovLab::call`] runs sriov: for another
    /// plugin that takes VFs (host-device by `deviceID`).
    pub fn call_plugin(&self, plugin: &str, verb: Invocation, pod: usize, ifname: &str, conf: &Value) -> Outcome {
        let inv = verb.attachment(&self.cid(pod), ifname).set("CNI_NETNS", &self.pod(pod).path_str()).stdin_json(conf);
        Binary::ours(plugin).call(&inv)
    }

    pub fn add(&self, pod: usize, ifname: &str, conf: &Value) -> Outcome {
        self.call(Invocation::add(), pod, ifname, conf)
    }

    pub fn del(&self, pod: usize, ifname: &str, conf: &Value, prev: &Value) -> Outcome {
        self.call(Invocation::del(), pod, ifname, &conf::with_prev_result(conf, prev))
    }

    pub fn check(&self, pod: usize, ifname: &str, conf: &Value, prev: &Value) -> Outcome {
        self.call(Invocation::check(), pod, ifname, &conf::with_prev_result(conf, prev))
    }

    /// The PF's `vf N` line of `ip link show`.
    pub fn vf_line(&self, vf: usize) -> String {
        let out = sh(&format!("ip link show {}", self.pf)).unwrap();
        let tag = format!("vf {vf} ");
        out.lines().find(|l| l.trim_start().starts_with(&tag)).map(|l| l.trim().to_string()).unwrap_or_default()
    }

    /// What DEL must restore: the PF's view of VF `vf` and its netdev in
    /// this namespace (found by PCI address: name, MAC, MTU, flags).
    pub fn snapshot(&self, vf: usize) -> String {
        let pci = &self.vfs[vf].pci;
        let names = std::fs::read_dir(format!("/sys/bus/pci/devices/{pci}/net"))
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect::<Vec<_>>())
            .unwrap_or_default();
        let mut s = format!("{}\nnetdevs: {names:?}\n", self.vf_line(vf));
        for n in names {
            let link = sh(&format!("ip -j link show {n}")).unwrap_or_default();
            let v: Value = serde_json::from_str(&link).unwrap_or(Value::Null);
            let l = &v[0];
            s += &format!(
                "{} {} mtu {} flags {} altnames {}\n",
                l["ifname"], l["address"], l["mtu"], l["flags"], l["altnames"]
            );
        }
        s
    }

    /// The plugin's record files.
    pub fn records(&self) -> Vec<String> {
        std::fs::read_dir(self.data_dir())
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".json"))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// host-local's reservations of the lab's network.
    pub fn reservations(&self) -> Vec<String> {
        crate::store::reservations(&self.ipam_dir().join(&self.net)).unwrap_or_default().into_keys().collect()
    }
}

impl Drop for SriovLab {
    fn drop(&mut self) {
        self.pods.clear();
        // Disabling the VFs also ends whatever a failed test left on them.
        let _ = std::fs::write(numvfs_path(&self.pf), "0");
    }
}
