//! The `conformance` suite (conformance/tool) against railcni's own
//! plugins, which must pass every check that applies, and against Debian's
//! reference plugins, whose verdicts must match the committed expectations
//! (`conformance/expected/reference.json`), so a change on either side shows.
//! ipvlan and vlan need a kernel the CI host lacks, sriov the VM's igb VFs:
//! VM stage. Debian has no sriov-cni, so sriov has no reference verdicts;
//! there is no reference cluster-ipam either.

use conformance::{self as suite, Profile, Target, Verdict};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use testkit::binary::{REFERENCE_DIR, build_dir, our_bin_dir};
use testkit::cluster_ipam::ENDPOINTS_VAR;
use testkit::netns::skip_without_root;

/// Runs the suite on our `ty` and fails listing every failed check.
fn ours_pass(ty: &str) {
    if skip_without_root("the conformance suite") {
        return;
    }
    let target = Target::new(&our_bin_dir("debug"), Profile::find(ty).expect("profile")).unwrap();
    let report = suite::run(&target, None);
    print!("{}", suite::render(std::slice::from_ref(&report), suite::Format::Table));
    let failed: Vec<String> = report
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(|c| format!("{} [{}]: {}", c.id, c.spec, c.reason))
        .collect();
    assert!(failed.is_empty(), "railcni {ty} failed:\n{}", failed.join("\n"));
    let skipped = report.count(Verdict::Skip);
    assert!(skipped < report.checks.len() / 2, "most checks were skipped: {skipped}");
}

#[test]
fn bridge_passes() {
    ours_pass("bridge");
}

#[test]
fn macvlan_passes() {
    ours_pass("macvlan");
}

#[test]
fn sbr_passes() {
    ours_pass("sbr");
}

#[test]
fn ptp_passes() {
    ours_pass("ptp");
}

#[test]
fn host_device_passes() {
    ours_pass("host-device");
}

#[test]
fn tuning_passes() {
    ours_pass("tuning");
}

#[test]
fn portmap_passes() {
    ours_pass("portmap");
}

#[test]
fn firewall_passes() {
    ours_pass("firewall");
}

#[test]
fn loopback_passes() {
    ours_pass("loopback");
}

#[test]
fn host_local_passes() {
    ours_pass("host-local");
}

#[test]
fn static_passes() {
    ours_pass("static");
}

/// cluster-ipam against a 3-member etcd on loopback that this test starts.
/// The `conformance` command runs the suite, as a user with their own etcd
/// would, told the endpoints by the environment (no other test of this
/// process sees them). Only the checks that cannot apply to an IPAM plugin
/// may skip.
#[test]
fn cluster_ipam_passes() {
    if skip_without_root("the conformance suite") {
        return;
    }
    let etcd = testkit::etcd::EtcdCluster::start();
    let out = Command::new(build_dir("debug").join("conformance"))
        .arg("--plugins")
        .arg(our_bin_dir("debug"))
        .args(["--type", "cluster-ipam", "--format", "json"])
        .env(ENDPOINTS_VAR, etcd.endpoints().join(","))
        .output()
        .expect("target/debug/conformance (cargo build --workspace)");
    let reports: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("conformance printed no report ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    let checks = reports[0]["checks"].as_array().cloned().unwrap_or_default();
    let mut unexpected = Vec::new();
    for c in &checks {
        let field = |k: &str| c[k].as_str().unwrap_or("").to_string();
        let (id, verdict, reason) = (field("id"), field("verdict"), field("reason"));
        println!("{id:<40} {verdict:<5} {reason}");
        let may_skip = IPAM_SKIPS.contains(&id.as_str());
        if !(verdict == "pass" || verdict == "skip" && may_skip) {
            unexpected.push(format!("{id}: {verdict} {reason}"));
        }
    }
    assert!(checks.len() > 30, "the report has {} checks: {reports}", checks.len());
    assert!(unexpected.is_empty(), "railcni cluster-ipam:\n{}", unexpected.join("\n"));
}

/// The checks that cannot apply to an IPAM plugin (no interface, no
/// chaining, no `mac`, no netns), which skip for host-local too.
const IPAM_SKIPS: &[&str] = &[
    "chain.outputs-prev-result",
    "del.netns-gone",
    "check.fails-address-removed",
    "check.fails-route-removed",
    "check.fails-link-down",
    "libcni.chain-after-and-before",
    "libcni.capability-mac",
    "multus.delegates-net1-net3",
    "multus.rollback-on-failed-delegate",
];

#[test]
#[ignore = "needs ipvlan (VM stage)"]
fn ipvlan_passes() {
    ours_pass("ipvlan");
}

#[test]
#[ignore = "needs 802.1q (VM stage)"]
fn vlan_passes() {
    ours_pass("vlan");
}

#[test]
#[ignore = "needs the dummy module (VM stage)"]
fn dummy_passes() {
    ours_pass("dummy");
}

#[test]
#[ignore = "needs the vrf module (VM stage)"]
fn vrf_passes() {
    ours_pass("vrf");
}

/// On the VM's igb: every VF enabled for the run (the profile picks free
/// ones per check) and disabled again when the lab drops.
#[test]
#[ignore = "needs SR-IOV VFs (VM stage)"]
fn sriov_passes() {
    let _vfs = testkit::lab::sriov::SriovLab::new(7);
    ours_pass("sriov");
}

/// The reference plugins' verdicts, check by check, as committed.
#[test]
fn reference_verdicts_match_the_expected_file() {
    if skip_without_root("the conformance suite") || !Path::new(REFERENCE_DIR).join("bridge").exists() {
        return;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../expected/reference.json");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_default()).unwrap_or(json!({}));
    // Entries of types not run here (bandwidth's test keeps its own) stay as they are.
    let mut got = expected.as_object().cloned().unwrap_or_default();
    let mut diffs = Vec::new();
    for ty in [
        "bridge",
        "macvlan",
        "ptp",
        "sbr",
        "host-device",
        "tuning",
        "portmap",
        "firewall",
        "host-local",
        "static",
        "loopback",
    ] {
        let target = Target::new(Path::new(REFERENCE_DIR), Profile::find(ty).expect("profile")).unwrap();
        let report = suite::run(&target, None);
        let mut verdicts = serde_json::Map::new();
        for c in &report.checks {
            let v = json!(c.verdict);
            if expected[ty][c.id] != v {
                diffs.push(format!("{ty} {}: expected {}, got {v} ({})", c.id, expected[ty][c.id], c.reason));
            }
            verdicts.insert(c.id.to_string(), v);
        }
        got.insert(ty.to_string(), Value::Object(verdicts));
    }
    if std::env::var_os("RAILCNI_UPDATE_EXPECTED").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        return;
    }
    assert!(
        diffs.is_empty(),
        "the reference plugins' verdicts changed (RAILCNI_UPDATE_EXPECTED=1 rewrites {}):\n{}",
        path.display(),
        diffs.join("\n")
    );
}
