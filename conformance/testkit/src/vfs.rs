//! The SR-IOV VFs the sriov profile hands its attachments: the free ones of
//! the node's PFs, and what DEL must leave as it found it (the PF's view of
//! each VF and the VF's netdev here).
//!
//! VFs are not created here: the node (or the VM test, through
//! `sriov_lab`) enables them. A VF is free when its netdev is in this
//! namespace; netdevs are looked up through sysfs, which shows only the
//! namespace it was mounted in, so the suite runs sriov in its own.

use crate::netns::run_ok;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Restricts the suite to this PF's VFs (default: every PF with VFs enabled).
pub const PF_VAR: &str = "CONFORMANCE_SRIOV_PF";

/// Each VF's netdev name when the suite first saw it, to put a VF back
/// under it if a failed check left it renamed (a VF whose pod namespace is
/// deleted returns under its pod name).
static FIRST_NAMES: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());

fn pci_dir(pci: &str) -> PathBuf {
    Path::new("/sys/bus/pci/devices").join(pci)
}

fn file_name(p: &Path) -> Option<String> {
    p.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// The netdev of PCI function `pci` in this namespace.
pub fn netdev(pci: &str) -> Option<String> {
    let mut names = std::fs::read_dir(pci_dir(pci).join("net")).ok()?.flatten();
    names.next().map(|e| e.file_name().to_string_lossy().into_owned())
}

/// PFs with VFs enabled: their netdev names, sorted.
fn pfs() -> Vec<String> {
    if let Ok(pf) = std::env::var(PF_VAR) {
        return vec![pf];
    }
    let mut out: Vec<String> = std::fs::read_dir("/sys/class/net")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            std::fs::read_to_string(e.path().join("device/sriov_numvfs"))
                .is_ok_and(|n| n.trim().parse::<u32>().is_ok_and(|n| n > 0))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// The PCI addresses of `pf`'s VFs, in VF index order.
fn vfs_of(pf: &str) -> Vec<String> {
    let dev = Path::new("/sys/class/net").join(pf).join("device");
    let n: usize =
        std::fs::read_to_string(dev.join("sriov_numvfs")).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    (0..n).filter_map(|i| std::fs::read_link(dev.join(format!("virtfn{i}"))).ok().and_then(|p| file_name(&p))).collect()
}

/// Every VF whose netdev is here, bound to a kernel driver. VFs a failed
/// check left elsewhere get 5 s to come back, and their first name back.
pub fn free() -> Vec<String> {
    let all: Vec<String> = pfs().iter().flat_map(|pf| vfs_of(pf)).collect();
    let mut first = FIRST_NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let deadline = Instant::now() + Duration::from_secs(5);
    while all.iter().any(|pci| first.contains_key(pci) && netdev(pci).is_none()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut out = Vec::new();
    for pci in all {
        let Some(name) = netdev(&pci) else { continue };
        match first.get(&pci) {
            Some(orig) if *orig != name => {
                let _ = run_ok(Command::new("ip").args(["link", "set", &name, "down"]));
                if run_ok(Command::new("ip").args(["link", "set", &name, "name", orig])).is_err() {
                    continue;
                }
            }
            Some(_) => {}
            None => {
                first.insert(pci.clone(), name);
            }
        }
        out.push(pci);
    }
    out
}

/// The PF's netdev and the index of VF `pci` on it.
fn pf_and_index(pci: &str) -> Option<(String, usize)> {
    let pf = pci_dir(pci).join("physfn");
    let pf_name = std::fs::read_dir(pf.join("net")).ok()?.flatten().next()?.file_name().to_string_lossy().into_owned();
    let index = (0..256).find(|i| {
        std::fs::read_link(pf.join(format!("virtfn{i}"))).ok().and_then(|p| file_name(&p)).as_deref() == Some(pci)
    })?;
    Some((pf_name, index))
}

/// What DEL must restore of VF `pci`, as one-line facts: the PF's `vf N`
/// line (MAC, VLAN, QoS, spoof checking, trust, rates, link state) and,
/// if its netdev is here, the netdev's name, MAC, MTU and flags.
pub fn facts(pci: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((pf, i)) = pf_and_index(pci) {
        let shown = run_ok(Command::new("ip").args(["link", "show", &pf])).map(|o| o.stdout).unwrap_or_default();
        let tag = format!("vf {i} ");
        let line =
            String::from_utf8_lossy(&shown).lines().map(str::trim).find(|l| l.starts_with(&tag)).map(String::from);
        out.push(format!("VF {pci} on {pf}: {}", line.unwrap_or_default()));
    }
    if let Some(name) = netdev(pci) {
        let shown =
            run_ok(Command::new("ip").args(["-j", "link", "show", &name])).map(|o| o.stdout).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_slice(&shown).unwrap_or_default();
        let l = &v[0];
        out.push(format!("VF {pci} netdev {name} mac {} mtu {} flags {}", l["address"], l["mtu"], l["flags"]));
    } else {
        out.push(format!("VF {pci} has no netdev here"));
    }
    out
}
