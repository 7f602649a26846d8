//! Issue #6 §4 on SR-IOV (VM stage): one pod, 8 rails that are VFs, 4 on
//! each of the VM's two igb PFs, through 8 networks of the railcni `sriov`
//! plugin with `policyRouting` (see `testkit::lab::sriov_rails` for the
//! wiring: one port VLAN per rail, a peer namespace per rail that only that
//! rail's VF reaches). The scenarios are those of `tests/rails.rs`
//! (`testkit::lab::rails_check`), plus: DEL restores every VF and leaves no
//! record.

use testkit::lab::rails::{RailNode, Subnets};
use testkit::lab::rails_check;
use testkit::lab::sriov::VERSION;
use testkit::lab::sriov_rails::SriovRailsLab;

const RAILS: u32 = 8;

/// The lab, the VFs' state before any ADD, and after `f` the check that
/// every VF is back as it was and no record is left.
fn with_lab(subnets: Subnets, f: impl FnOnce(&SriovRailsLab)) {
    let lab = SriovRailsLab::new(RAILS, subnets);
    let before = lab.snapshots();
    f(&lab);
    assert_eq!(lab.snapshots(), before, "DEL did not restore the VFs");
    assert!(lab.records().is_empty(), "records left: {:?}", lab.records());
}

#[test]
#[ignore = "needs SR-IOV VFs on two PFs (VM stage)"]
fn eight_vf_rails_distinct_subnets() {
    with_lab(Subnets::Distinct, |lab| rails_check::eight_rails(lab, VERSION));
}

#[test]
#[ignore = "needs SR-IOV VFs on two PFs (VM stage)"]
fn eight_vf_rails_one_shared_subnet() {
    with_lab(Subnets::Shared, |lab| rails_check::eight_rails(lab, VERSION));
}

/// The control: without `policyRouting` every rail but the first routes
/// through `net1` and its ping fails; then DEL of all restores the VFs.
#[test]
#[ignore = "needs SR-IOV VFs on two PFs (VM stage)"]
fn without_policy_routing_the_vf_rails_do_not_work() {
    for subnets in [Subnets::Distinct, Subnets::Shared] {
        with_lab(subnets, |lab| {
            let results = rails_check::without_policy_routing_the_rails_do_not_work(lab, VERSION);
            for (k, r) in (1..=RAILS).zip(&results) {
                let conf = lab.rail_conf(VERSION, k, &serde_json::Value::Null);
                lab.call_with_prev("DEL", k, &conf, r).assert_ok();
            }
        });
    }
}

/// Multus-style delegation through libcni (the Go driver): one call per
/// network, `CNI_IFNAME` net1..net8. 1.0.0: the driver's libcni knows no 1.1.0 results.
#[test]
#[ignore = "needs SR-IOV VFs on two PFs (VM stage)"]
fn eight_vf_rails_through_libcni_delegation() {
    with_lab(Subnets::Distinct, |lab| rails_check::eight_rails_through_libcni_delegation(lab, "1.0.0"));
}
