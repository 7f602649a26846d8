//! The host-device plugin end to end on the host kernel, with a veth end as
//! the device (an SR-IOV VF by `deviceID` is the VM stage's): driven by the
//! Go runtime driver (libcni). Every test builds a [`Lab`] with the device
//! in its own host namespace, pod namespaces and temp dirs, all removed on
//! drop. Needs root (SKIPPED otherwise) and `ip`.

use serde_json::{Value, json};
use testkit::BadKeys;
use testkit::binary::our_cni_path;
use testkit::driver::Lib;
use testkit::footprint::state_files;
use testkit::lab::Lab;
use testkit::netns::skip_without_root;

/// The driver's libcni (1.1.2) cannot parse 1.1.0 results.
const V: &str = "1.0.0";
/// The device: one end of a veth pair in the lab's host namespace.
const DEVICE: &str = "hdev0";
const PEER: &str = "hpeer0";
const MTU: u64 = 1450;
const SUBNET4: &str = "10.72.0.0/24";

/// A lab whose host has [`DEVICE`] (MTU 1450, up), or `None` (SKIPPED) without root.
fn lab() -> Option<Lab> {
    if skip_without_root("the host-device tests") {
        return None;
    }
    let lab = Lab::new(&our_cni_path(&["host-device", "host-local"]));
    let mtu = MTU.to_string();
    lab.host.ip(&["link", "add", DEVICE, "mtu", &mtu, "type", "veth", "peer", "name", PEER, "mtu", &mtu]).unwrap();
    lab.host.ip(&["link", "set", DEVICE, "up"]).unwrap();
    lab.host.ip(&["link", "set", PEER, "up"]).unwrap();
    Some(lab)
}

fn records(lab: &Lab) -> Vec<String> {
    state_files(&lab.tmp().join("host-device"))
}

/// Writes the conflist: host-device with `keys` (and its `dataDir` in the lab), host-local
/// unless `keys` has an `ipam`.
fn setup(lab: &Lab, mut keys: Value) {
    let own_ipam = keys.as_object_mut().and_then(|k| k.remove("ipam"));
    let ipam = own_ipam.unwrap_or_else(|| lab.host_local(json!([[{ "subnet": SUBNET4 }]])));
    let base = json!({ "type": "host-device", "dataDir": lab.tmp().join("host-device") });
    let plugin = testkit::lab::plugin_object(base, keys, ipam);
    lab.write_conflist(&lab.conflist(V, vec![plugin]));
}

/// A lab with [`DEVICE`] added to pod 0 by name (libcni).
fn attached() -> Option<(Lab, usize)> {
    let mut lab = lab()?;
    let p = lab.add_pod();
    setup(&lab, json!({ "device": DEVICE }));
    lab.add_ok(p, Lib::Libcni);
    Some((lab, p))
}

/// The device is on the host again, as it was: name, MTU, up; no record, no reservation.
#[track_caller]
fn assert_back(lab: &Lab, p: usize, name: &str) {
    let dev = lab.host.link(name).unwrap_or_else(|| panic!("{name} is not back on the host\n{}", lab.host.dump()));
    assert_eq!(dev.kind(), "veth");
    assert_eq!(dev.mtu(), MTU, "DEL restores the MTU: {}", dev.raw);
    assert!(dev.admin_up(), "DEL restores the admin state: {}", dev.raw);
    assert!(records(lab).is_empty(), "record left: {:?}", records(lab));
    assert!(lab.held_by(p).is_empty(), "reservation left: {:?}", lab.reservations());
}

#[test]
fn moves_a_veth_end_into_the_pod_and_del_puts_back_name_and_mtu() {
    let Some(mut lab) = lab() else { return };
    let p = lab.add_pod();
    setup(&lab, json!({ "device": DEVICE }));
    let (result, _) = lab.add_ok(p, Lib::Libcni);
    assert_eq!(result["interfaces"][0]["name"], "eth0", "{result}");
    assert_eq!(result["interfaces"][0]["sandbox"], lab.pod(p).path_str(), "{result}");
    assert!(lab.host.link(DEVICE).is_none(), "the device is still on the host");
    let eth0 = lab.pod(p).require_link("eth0");
    assert_eq!((eth0.kind(), eth0.mtu()), ("veth", MTU), "{}", eth0.raw);
    assert_eq!(lab.pod(p).global_addrs("eth0"), ["10.72.0.2/24"]);
    assert_eq!(records(&lab).len(), 1);
    lab.check_ok(p, Lib::Libcni);
    // A chained tuning (or the pod) changed the MTU: DEL puts the host's back.
    lab.pod(p).ip(&["link", "set", "eth0", "mtu", "1300"]).unwrap();
    lab.del_ok(p, Lib::Libcni);
    assert_back(&lab, p, DEVICE);
    lab.del_ok(p, Lib::Libcni);
}

#[test]
fn del_after_a_rename_in_the_pod_puts_the_device_back() {
    let Some((lab, p)) = attached() else { return };
    let pod = lab.pod(p);
    pod.ip(&["link", "set", "eth0", "down"]).unwrap();
    pod.ip(&["link", "set", "eth0", "name", "renamed0"]).unwrap();
    lab.del_ok(p, Lib::Libcni);
    assert!(pod.link("renamed0").is_none(), "the device stayed in the pod\n{}", pod.dump());
    assert_back(&lab, p, DEVICE);
}

#[test]
fn del_with_the_name_taken_on_the_host_still_returns_the_device() {
    let Some((lab, p)) = attached() else { return };
    lab.host.ip(&["link", "add", DEVICE, "type", "veth", "peer", "name", "squat0"]).unwrap();
    lab.del_ok(p, Lib::Libcni);
    // Back under its pod name, MTU and state restored; the squatter untouched.
    assert_back(&lab, p, "eth0");
    assert_eq!(lab.host.require_link(DEVICE).mtu(), 1500, "the squatter changed");
    lab.del_ok(p, Lib::Libcni);
    assert!(lab.host.link("eth0").is_some(), "a repeated DEL moved the device again");
}

#[test]
fn del_with_the_netns_gone_succeeds_and_leaves_no_record() {
    let Some((lab, p)) = attached() else { return };
    // A veth end dies with its netns (a physical device would come back: VM stage).
    lab.pod(p).delete().unwrap();
    lab.del_ok(p, Lib::Libcni);
    assert!(records(&lab).is_empty(), "record left: {:?}", records(&lab));
    assert!(lab.held_by(p).is_empty(), "reservation left: {:?}", lab.reservations());
    lab.del_ok(p, Lib::Libcni);
}

#[test]
fn hwaddr_selects_the_device() {
    let Some(mut lab) = lab() else { return };
    let p = lab.add_pod();
    let mac = lab.host.require_link(DEVICE).mac();
    setup(&lab, json!({ "hwaddr": mac.to_uppercase() }));
    lab.add_ok(p, Lib::Libcni);
    assert_eq!(lab.pod(p).require_link("eth0").mac(), mac);
    lab.del_ok(p, Lib::Libcni);
    assert_back(&lab, p, DEVICE);
}

/// A config ADD must refuse with code 7 naming `key`, leaving nothing: the
/// device on the host as it was, no record, no reservation.
fn bad_config_is_code_7(case: BadKeys) {
    let Some(mut lab) = lab() else { return };
    let p = lab.add_pod();
    setup(&lab, (case.keys)());
    lab.assert_add_fails(p, 7, case.key);
    assert!(lab.pod(p).link("eth0").is_none(), "eth0 left\n{}", lab.pod(p).dump());
    assert_back(&lab, p, DEVICE);
    // The runtime's DEL after the refusal (DEL cannot reach a missing IPAM plugin either).
    if case.key != "ipam.type" {
        lab.del_ok(p, Lib::Libcni);
        assert_back(&lab, p, DEVICE);
    }
}

testkit::table_tests!(bad_config_is_code_7 {
    no_device_key_is_code_7: BadKeys { keys: || json!({}), key: "device" },
    missing_device_is_code_7: BadKeys { keys: || json!({ "device": "nosuchdev0" }), key: "device" },
    bad_hwaddr_is_code_7: BadKeys { keys: || json!({ "hwaddr": "zz:zz" }), key: "hwaddr" },
    unknown_hwaddr_is_code_7: BadKeys { keys: || json!({ "hwaddr": "02:00:00:00:00:99" }), key: "hwaddr" },
    kernelpath_outside_sys_is_code_7: BadKeys { keys: || json!({ "kernelpath": "/etc" }), key: "kernelpath" },
    bad_pci_bus_id_is_code_7: BadKeys { keys: || json!({ "pciBusID": "eth0" }), key: "pciBusID" },
    absent_pci_device_is_code_7: BadKeys { keys: || json!({ "pciBusID": "0000:ff:1f.7" }), key: "pciBusID" },
    missing_ipam_plugin_is_code_7: BadKeys {
        keys: || json!({ "device": DEVICE, "ipam": { "type": "no-such-ipam" } }),
        key: "ipam.type"
    },
});

// ---- VM stage ---------------------------------------------------------------

/// host-device on an SR-IOV VF named by the device plugin's
/// `runtimeConfig.deviceID` (its PCI address), as Multus hands it over.
mod vf {
    use serde_json::{Value, json};
    use std::time::Duration;
    use testkit::conf::with_prev_result;
    use testkit::lab::sriov::{SriovLab, VERSION, wait_for};
    use testkit::{Invocation, Outcome};

    /// The VF's MTU before the test, not igbvf's default: DEL must restore it.
    const VF_MTU: u64 = 1400;

    /// A lab with one VF at [`VF_MTU`], and a pod.
    fn lab() -> SriovLab {
        let mut lab = SriovLab::new(1);
        let netdev = &lab.vfs[0].netdev;
        std::process::Command::new("ip")
            .args(["link", "set", netdev, "mtu", &VF_MTU.to_string()])
            .status()
            .expect("ip link set mtu");
        lab.add_pod();
        lab
    }

    fn conf(lab: &SriovLab) -> Value {
        json!({
            "cniVersion": VERSION,
            "name": lab.net,
            "type": "host-device",
            "dataDir": lab.tmp_path("host-device"),
            "runtimeConfig": { "deviceID": lab.vfs[0].pci },
        })
    }

    fn call(lab: &SriovLab, verb: Invocation, conf: &Value) -> Outcome {
        lab.call_plugin("host-device", verb, 0, "eth0", conf)
    }

    /// The VF's netdev names in this (the PF's) namespace, found by PCI address.
    fn vf_netdevs(lab: &SriovLab) -> Vec<String> {
        std::fs::read_dir(format!("/sys/bus/pci/devices/{}/net", lab.vfs[0].pci))
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    }

    fn mtu_here(name: &str) -> u64 {
        let out = std::process::Command::new("ip").args(["-j", "link", "show", name]).output().expect("ip");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        v[0]["mtu"].as_u64().unwrap_or_default()
    }

    /// The VF is back here under its old name with its old MTU, and no record is left.
    #[track_caller]
    fn assert_back(lab: &SriovLab) {
        let name = &lab.vfs[0].netdev;
        assert_eq!(vf_netdevs(lab), std::slice::from_ref(name), "the VF is not back under its name");
        assert_eq!(mtu_here(name), VF_MTU, "DEL restores the VF's MTU");
        let records = testkit::footprint::state_files(&lab.tmp_path("host-device"));
        assert!(records.is_empty(), "record left: {records:?}");
    }

    /// The VF added to the pod by `deviceID`, at the host's MTU, which the
    /// pod then changes (as a chained tuning would): the lab, config and result.
    fn attached() -> (SriovLab, Value, Value) {
        let lab = lab();
        let conf = conf(&lab);
        let result = call(&lab, Invocation::add(), &conf).assert_ok_json();
        assert_eq!(result["interfaces"][0]["name"], "eth0", "{result}");
        assert!(vf_netdevs(&lab).is_empty(), "the VF is still here: {:?}", vf_netdevs(&lab));
        let eth0 = lab.pod(0).ip_json(&["link", "show", "eth0"]).unwrap();
        assert_eq!(eth0[0]["mtu"], json!(VF_MTU), "{eth0}");
        lab.pod(0).ip(&["link", "set", "eth0", "mtu", "1300"]).unwrap();
        (lab, conf, result)
    }

    fn del_ok(lab: &SriovLab, conf: &Value, result: &Value) {
        call(lab, Invocation::del(), &with_prev_result(conf, result)).assert_ok();
    }

    #[test]
    #[ignore = "needs SR-IOV VFs (VM stage)"]
    fn moves_a_vf_by_device_id_into_the_pod_and_del_puts_back_name_and_mtu() {
        let (lab, conf, result) = attached();
        del_ok(&lab, &conf, &result);
        assert!(lab.pod(0).link("eth0").is_none(), "the VF stayed in the pod\n{}", lab.pod(0).dump());
        assert_back(&lab);
        // A repeated DEL (the runtime retries) finds nothing to do.
        del_ok(&lab, &conf, &result);
        assert_back(&lab);
    }

    #[test]
    #[ignore = "needs SR-IOV VFs (VM stage)"]
    fn del_with_the_netns_gone_puts_the_vf_back_name_and_mtu() {
        let (lab, conf, result) = attached();
        // A physical device outlives its netns: the kernel returns it to the
        // initial namespace under its pod name, or `devN` if that is taken,
        // with the pod's MTU. DEL must find it by PCI address and restore both.
        lab.pod(0).delete().unwrap();
        wait_for("the VF back from the dead netns", Duration::from_secs(10), || !vf_netdevs(&lab).is_empty());
        del_ok(&lab, &conf, &result);
        assert_back(&lab);
    }
}
