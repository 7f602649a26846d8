//! The `conformance` suite (conformance/tool) against railcni's own
//! plugins, which must pass every check that applies, and against Debian's
//! reference plugins, whose verdicts must match the committed expectations
//! (`conformance/expected/reference.json`), so a change on either side shows.
//! ipvlan and vlan need a kernel the CI host lacks, sriov the VM's igb VFs:
//! VM stage. Debian has no sriov-cni, so sriov has no reference verdicts.

use conformance::{self as suite, Profile, Target, Verdict};
use serde_json::{Value, json};
use std::path::Path;
use testkit::binary::{REFERENCE_DIR, our_bin_dir};
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
fn host_local_passes() {
    ours_pass("host-local");
}

#[test]
fn static_passes() {
    ours_pass("static");
}

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
    let mut got = serde_json::Map::new();
    let mut diffs = Vec::new();
    for ty in ["bridge", "macvlan", "ptp", "sbr", "host-local", "static"] {
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
