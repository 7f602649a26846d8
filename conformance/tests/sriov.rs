//! The sriov plugin. The VM stage (`--ignored`) runs it on QEMU's igb with
//! real VFs (see `testkit::lab::sriov`); the host runs what needs no VF:
//! config validation, lookups through a fake sysfs tree, DEL and GC
//! without records.

use serde_json::{Value, json};
use std::time::Duration;
use testkit::lab::sriov::{SriovLab, VERSION, wait_for};
use testkit::netns::{Namespace, skip_without_root, unique_prefix};
use testkit::profile::SRIOV;
use testkit::{Binary, Invocation};

fn addr(result: &Value) -> String {
    result["ips"][0]["address"].as_str().unwrap_or_default().split('/').next().unwrap_or_default().to_string()
}

fn link_json(pod: &Namespace, name: &str) -> Value {
    pod.ip_json(&["link", "show", name]).unwrap_or_else(|e| panic!("{e}"))[0].clone()
}

// ---- VM stage ---------------------------------------------------------------

/// Per-rail policy routing on VFs: pod A gets three rails (VFs, `net1`..`net3`,
/// one subnet each, `policyRouting`), pod B three VFs on the same subnets,
/// each owning a peer address `172.16.<k>.1` reachable only by routing
/// through B's rail k. From A, each rail's source address picks its own VF
/// and gateway, and its ping gets through the NIC.
#[test]
#[ignore = "needs SR-IOV VFs (VM stage)"]
fn rails_on_vfs_route_each_source_through_its_own_vf() {
    let mut lab = SriovLab::new(6);
    let (a, b) = (lab.add_pod(), lab.add_pod());
    let static_ipam = |addr: String, gw: Option<String>| {
        let mut a = json!({ "address": addr });
        if let Some(gw) = gw {
            a["gateway"] = json!(gw);
        }
        json!({ "type": "static", "addresses": [a], "routes": [{ "dst": "172.16.0.0/16" }] })
    };
    let mut rails = Vec::new();
    for k in 1..=3usize {
        let ifname = format!("net{k}");
        let mut ca = lab.conf(k - 1, json!({ "policyRouting": {} }), None);
        ca["ipam"] = static_ipam(format!("10.60.{k}.11/24"), Some(format!("10.60.{k}.12")));
        ca["name"] = json!(format!("{}-rail{k}", lab.net));
        let ra = lab.add(a, &ifname, &ca).assert_ok_json();
        let mut cb = lab.conf(k + 2, json!({}), None);
        cb["ipam"] = json!({ "type": "static", "addresses": [{ "address": format!("10.60.{k}.12/24") }] });
        cb["name"] = json!(format!("{}-peer{k}", lab.net));
        let rb = lab.add(b, &ifname, &cb).assert_ok_json();
        lab.pod(b).ip(&["addr", "add", &format!("172.16.{k}.1/32"), "dev", &ifname]).unwrap();
        rails.push((ifname, ca, ra, cb, rb));
    }
    for (k, (ifname, ..)) in (1..=3).zip(&rails) {
        let got = lab.pod(a).ip(&["route", "get", &format!("172.16.{k}.1"), "from", &format!("10.60.{k}.11")]).unwrap();
        assert!(got.contains(&format!("via 10.60.{k}.12 dev {ifname}")), "rail {k}: {got}");
        lab.pod(a)
            .ping_with(&["-I", &format!("10.60.{k}.11"), "-W", "3"], &format!("172.16.{k}.1"))
            .unwrap_or_else(|e| panic!("rail {k}: {e}"));
    }
    let (ifname, ca, ra, ..) = &rails[1];
    lab.check(a, ifname, ca, ra).assert_ok();
    lab.pod(a).ip(&["rule", "del", "priority", "1002"]).unwrap();
    lab.check(a, ifname, ca, ra).assert_error(103);
    for (ifname, ca, ra, cb, rb) in &rails {
        lab.del(a, ifname, ca, ra).assert_ok();
        lab.del(b, ifname, cb, rb).assert_ok();
    }
    let rules = lab.pod(a).ip(&["rule", "show"]).unwrap();
    assert!(!rules.contains("lookup 100"), "DEL left rail rules: {rules}");
    assert!(lab.records().is_empty(), "records left: {:?}", lab.records());
}

#[test]
#[ignore = "needs SR-IOV VFs (VM stage)"]
fn every_key_is_applied_checked_and_restored_exactly() {
    let mut lab = SriovLab::new(1);
    let p = lab.add_pod();
    let before = lab.snapshot(0);
    let mac = "02:5a:00:00:00:01";
    let conf = lab.conf(
        0,
        json!({ "mac": mac, "vlan": 100, "vlanQoS": 3, "spoofchk": "off", "trust": "on",
                "max_tx_rate": 100, "mtu": 1400 }),
        Some("10.87.0.0/24"),
    );
    let r = lab.add(p, "net1", &conf).assert_ok_json();
    let iface = &r["interfaces"][0];
    assert_eq!(iface["name"], "net1", "{r}");
    assert_eq!(iface["mac"], mac, "{r}");
    assert_eq!(iface["sandbox"], lab.pod(p).path_str(), "{r}");
    assert_eq!(iface["pciID"], lab.vfs[0].pci, "{r}");
    assert_eq!(iface["mtu"], 1400, "{r}");
    assert_eq!(r["ips"][0]["interface"], 0, "{r}");
    let line = lab.vf_line(0);
    for want in [mac, "vlan 100, qos 3", "spoof checking off", "trust on", "max_tx_rate 100Mbps"] {
        assert!(line.contains(want), "{want:?} is not in the PF's vf line: {line}");
    }
    // In the pod: the VF under its new name, with the admin MAC (igb shows it
    // only after a VF reset), the MTU, the address, and up.
    let link = link_json(lab.pod(p), "net1");
    assert_eq!(link["address"], mac, "{link}");
    assert_eq!(link["mtu"], 1400, "{link}");
    assert!(link["flags"].as_array().unwrap().contains(&json!("UP")), "{link}");
    let addrs = lab.pod(p).ip(&["-4", "addr", "show", "net1"]).unwrap();
    assert!(addrs.contains(&format!("{}/24", addr(&r))), "{addrs}");
    assert!(!lab.snapshot(0).contains(&lab.vfs[0].netdev), "the VF netdev is still on the host");
    lab.check(p, "net1", &conf, &r).assert_ok();

    // CHECK sees drift on the PF and in the pod.
    std::process::Command::new("ip").args(["link", "set", &lab.pf, "vf", "0", "trust", "off"]).status().unwrap();
    let msg = lab.check(p, "net1", &conf, &r).assert_error(103);
    assert!(msg.contains("trust"), "{msg}");
    std::process::Command::new("ip").args(["link", "set", &lab.pf, "vf", "0", "trust", "on"]).status().unwrap();
    lab.pod(p).ip(&["link", "set", "net1", "mtu", "1300"]).unwrap();
    lab.check(p, "net1", &conf, &r).assert_error(103);

    lab.del(p, "net1", &conf, &r).assert_ok();
    assert_eq!(lab.snapshot(0), before, "DEL did not restore the VF");
    assert!(lab.pod(p).link("net1").is_none());
    assert!(lab.records().is_empty(), "{:?}", lab.records());
    assert!(lab.reservations().is_empty(), "{:?}", lab.reservations());
    lab.del(p, "net1", &conf, &r).assert_ok();
    assert_eq!(lab.snapshot(0), before);
}

#[test]
#[ignore = "needs SR-IOV VFs (VM stage)"]
fn two_pods_on_two_vfs_ping_through_the_nic() {
    let mut lab = SriovLab::new(2);
    let (a, b) = (lab.add_pod(), lab.add_pod());
    // A sets a MAC (igb's asynchronous admin MAC), B keeps the VF's own.
    let ca = lab.conf(0, json!({ "mac": "02:5a:00:00:00:0a", "spoofchk": "on" }), Some("10.87.1.0/24"));
    let cb = lab.conf(1, json!({}), Some("10.87.1.0/24"));
    let rb = lab.add(b, "net1", &cb).assert_ok_json();
    // B learns A from A's gratuitous ARP alone (arp_accept), before any ping.
    let accept = lab.pod(b).exec(&["sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/net1/arp_accept"]);
    assert!(accept.status.success(), "{accept:?}");
    let ra = lab.add(a, "net1", &ca).assert_ok_json();
    let learned = || {
        let neigh = lab.pod(b).ip(&["neigh", "show", "dev", "net1"]).unwrap_or_default();
        neigh.lines().any(|l| l.starts_with(&format!("{} ", addr(&ra))) && l.contains("02:5a:00:00:00:0a"))
    };
    wait_for("A's gratuitous ARP to reach B", Duration::from_secs(5), learned);
    lab.pod(a).ping(&addr(&rb)).unwrap_or_else(|e| panic!("{e}"));
    lab.pod(b).ping(&addr(&ra)).unwrap_or_else(|e| panic!("{e}"));
    lab.del(a, "net1", &ca, &ra).assert_ok();
    lab.del(b, "net1", &cb, &rb).assert_ok();
    assert!(lab.records().is_empty() && lab.reservations().is_empty());
}

#[test]
#[ignore = "needs SR-IOV VFs (VM stage)"]
fn del_after_the_netns_is_gone_finds_the_vf_by_pci_address() {
    let mut lab = SriovLab::new(1);
    let p = lab.add_pod();
    let before = lab.snapshot(0);
    // runtimeConfig.mac wins over CNI_ARGS MAC, which wins over mac.
    let conf = lab.conf(
        0,
        json!({ "vlan": 200, "mac": "02:5a:00:00:00:01", "mtu": 1280,
                "runtimeConfig": { "mac": "02:5a:00:00:00:0b" } }),
        Some("10.87.2.0/24"),
    );
    let r = lab
        .call(Invocation::add().cni_args("IgnoreUnknown=1;MAC=02:5a:00:00:00:02"), p, "net1", &conf)
        .assert_ok_json();
    assert_eq!(r["interfaces"][0]["mac"], "02:5a:00:00:00:0b", "{r}");
    assert!(lab.vf_line(0).contains("02:5a:00:00:00:0b"), "{}", lab.vf_line(0));
    // The runtime tears the pod down first: the kernel returns the VF to this
    // namespace under its pod name, asynchronously.
    lab.pod(p).delete().unwrap();
    lab.del(p, "net1", &conf, &r).assert_ok();
    assert_eq!(lab.snapshot(0), before, "DEL after the netns was gone did not restore the VF");
    assert!(lab.records().is_empty() && lab.reservations().is_empty());
    lab.del(p, "net1", &conf, &r).assert_ok();
}

#[test]
#[ignore = "needs SR-IOV VFs (VM stage)"]
fn del_after_the_vfs_were_disabled_releases_everything() {
    let mut lab = SriovLab::new(1);
    let p = lab.add_pod();
    let conf = lab.conf(0, json!({ "vlan": 20, "mac": "02:5a:00:00:00:0e" }), Some("10.87.6.0/24"));
    let r = lab.add(p, "net1", &conf).assert_ok_json();
    lab.disable_vfs();
    let start = std::time::Instant::now();
    lab.del(p, "net1", &conf, &r).assert_ok();
    assert!(start.elapsed() < Duration::from_secs(4), "DEL waited for a VF that no longer exists");
    assert!(lab.records().is_empty() && lab.reservations().is_empty());
    lab.del(p, "net1", &conf, &r).assert_ok();
}

#[test]
#[ignore = "needs SR-IOV VFs (VM stage)"]
fn concurrent_adds_on_vfs_of_one_pf_all_succeed() {
    let mut lab = SriovLab::new(3);
    let pods: Vec<usize> = (0..3).map(|_| lab.add_pod()).collect();
    let confs: Vec<Value> =
        pods.iter().map(|&p| lab.conf(p, json!({ "vlan": 10 + p, "spoofchk": "off" }), Some("10.87.3.0/24"))).collect();
    let results: Vec<Value> = std::thread::scope(|s| {
        let (lab, confs) = (&lab, &confs);
        let handles: Vec<_> = pods.iter().map(|&p| s.spawn(move || lab.add(p, "net1", &confs[p]))).collect();
        handles.into_iter().map(|h| h.join().unwrap().assert_ok_json()).collect()
    });
    for &p in &pods {
        assert!(lab.vf_line(p).contains(&format!("vlan {}", 10 + p)), "{}", lab.vf_line(p));
        assert!(lab.pod(p).link("net1").is_some());
    }
    std::thread::scope(|s| {
        for &p in &pods {
            let (lab, confs, results) = (&lab, &confs, &results);
            s.spawn(move || lab.del(p, "net1", &confs[p], &results[p]).assert_ok());
        }
    });
    assert!(lab.records().is_empty() && lab.reservations().is_empty());
}

#[test]
#[ignore = "needs SR-IOV VFs (VM stage)"]
fn refusals_name_the_key_and_leave_nothing_behind() {
    let mut lab = SriovLab::new(2);
    let (a, b) = (lab.add_pod(), lab.add_pod());
    let before = lab.snapshot(0);
    // igb refuses a minimum rate (EINVAL), link state (EOPNOTSUPP) and
    // 802.1ad (EPROTONOSUPPORT); each refusal comes after other keys were set.
    for (extra, key, answer) in [
        (json!({ "vlan": 300, "min_tx_rate": 10, "max_tx_rate": 100 }), "min_tx_rate", "Invalid argument"),
        (json!({ "mac": "02:5a:00:00:00:0c", "link_state": "enable" }), "link_state", "not supported"),
        (json!({ "vlan": 300, "vlanProto": "802.1ad" }), "vlanProto", "not supported"),
    ] {
        let conf = lab.conf(0, extra, Some("10.87.4.0/24"));
        let msg = lab.add(a, "net1", &conf).assert_error_naming(7, &[key]);
        assert!(msg.contains(&lab.vfs[0].pci) && msg.contains(&lab.pf) && msg.contains(answer), "{msg}");
        assert_eq!(lab.snapshot(0), before, "a refused ADD changed the VF");
        assert!(lab.pod(a).link("net1").is_none());
        assert!(lab.records().is_empty() && lab.reservations().is_empty());
    }
    // A VF in use by a live attachment is refused, and the holder keeps it.
    let conf = lab.conf(0, json!({}), Some("10.87.4.0/24"));
    let r = lab.add(a, "net1", &conf).assert_ok_json();
    let msg = lab.add(b, "net1", &conf).assert_error_naming(7, &["deviceID"]);
    assert!(msg.contains("in use"), "{msg}");
    assert!(lab.pod(a).link("net1").is_some() && lab.pod(b).link("net1").is_none());
    // GC: an attachment the runtime no longer lists is restored and freed.
    let mut gc = lab.conf(0, json!({}), Some("10.87.4.0/24"));
    gc["cni.dev/valid-attachments"] = json!([]);
    Binary::ours("sriov").call(&Invocation::gc().stdin_json(&gc)).assert_ok();
    assert_eq!(lab.snapshot(0), before, "GC did not restore the VF");
    assert!(lab.records().is_empty() && lab.reservations().is_empty(), "{:?}", lab.reservations());
    lab.del(a, "net1", &conf, &r).assert_ok();
}

/// DPDK mode: VF 1 is bound to uio_pci_generic (a userspace driver that
/// needs no IOMMU; vfio-pci would need one or noiommu mode).
#[test]
#[ignore = "needs SR-IOV VFs (VM stage)"]
fn dpdk_mode_sets_the_pf_side_and_moves_nothing() {
    let mut lab = SriovLab::new(2);
    let p = lab.add_pod();
    let pci = lab.vfs[1].pci.clone();
    let bind = format!(
        "modprobe uio_pci_generic && echo uio_pci_generic > /sys/bus/pci/devices/{pci}/driver_override && \
         echo {pci} > /sys/bus/pci/devices/{pci}/driver/unbind && echo {pci} > /sys/bus/pci/drivers_probe"
    );
    testkit::netns::run_ok(std::process::Command::new("sh").args(["-c", &bind])).unwrap_or_else(|e| panic!("{e}"));
    let driver = || std::fs::read_link(format!("/sys/bus/pci/devices/{pci}/driver")).ok();
    wait_for("uio_pci_generic to bind", Duration::from_secs(10), || {
        driver().is_some_and(|d| d.ends_with("uio_pci_generic"))
    });
    let before = lab.snapshot(1);
    let mac = "02:5a:00:00:00:0d";
    let conf = lab.conf(1, json!({ "vlan": 400, "mac": mac, "trust": "on" }), Some("10.87.5.0/24"));
    let links_before = lab.pod(p).ip(&["-o", "link"]).unwrap();
    let r = lab.add(p, "net1", &conf).assert_ok_json();
    assert_eq!(r["interfaces"][0]["pciID"], pci, "{r}");
    assert_eq!(r["interfaces"][0]["mac"], mac, "{r}");
    assert!(r["ips"][0]["address"].is_string(), "IPAM runs in DPDK mode: {r}");
    assert_eq!(lab.pod(p).ip(&["-o", "link"]).unwrap(), links_before, "DPDK mode moved something");
    let line = lab.vf_line(1);
    assert!(line.contains("vlan 400") && line.contains(mac) && line.contains("trust on"), "{line}");
    lab.check(p, "net1", &conf, &r).assert_ok();
    lab.del(p, "net1", &conf, &r).assert_ok();
    assert_eq!(lab.snapshot(1), before, "DEL did not restore the DPDK VF");
    assert!(lab.records().is_empty() && lab.reservations().is_empty());
}

// ---- host -------------------------------------------------------------------

/// A config for a VF that need not exist, run in a scratch pod namespace.
fn host_conf(extra: Value, data_dir: &std::path::Path) -> Value {
    // The profile's dataDir is below `data_dir`: see `record_left`.
    let mut c = SRIOV.keys_on(data_dir, "0000:af:06.0");
    c["cniVersion"] = json!(VERSION);
    c["name"] = json!("sriovnet");
    for (k, v) in extra.as_object().into_iter().flatten() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

/// Whether the plugin left a record in `conf`'s `dataDir`.
fn record_left(conf: &Value) -> bool {
    let dir = conf["dataDir"].as_str().expect("the sriov profile has a dataDir");
    let records = std::fs::read_dir(dir).map(|d| d.flatten().collect::<Vec<_>>()).unwrap_or_default();
    records.iter().any(|e| e.file_name().to_string_lossy().ends_with(".json"))
}

#[test]
fn bad_config_is_refused_naming_the_key() {
    if skip_without_root("sriov config tests") {
        return;
    }
    let pod = Namespace::create(&unique_prefix("rcs")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (json!({ "deviceID": null }), "deviceID"),
        (json!({ "deviceID": "eth0" }), "deviceID"),
        (json!({ "deviceID": null, "runtimeConfig": { "deviceID": "../../x" } }), "runtimeConfig.deviceID"),
        (json!({ "vlan": 4095 }), "vlan"),
        (json!({ "vlan": 5, "vlanQoS": 8 }), "vlanQoS"),
        (json!({ "vlanQoS": 2 }), "vlanQoS"),
        (json!({ "vlanProto": "802.1ad" }), "vlanProto"),
        (json!({ "vlan": 5, "vlanProto": "802.1x" }), "vlanProto"),
        (json!({ "mac": "02:00:00:00:00" }), "mac"),
        (json!({ "runtimeConfig": { "mac": "01:00:5e:00:00:01" } }), "runtimeConfig.mac"),
        (json!({ "spoofchk": "yes" }), "spoofchk"),
        (json!({ "trust": 1 }), "trust"),
        (json!({ "link_state": "up" }), "link_state"),
        (json!({ "min_tx_rate": 200, "max_tx_rate": 100 }), "min_tx_rate"),
        (json!({ "max_tx_rate": -1 }), "max_tx_rate"),
        (json!({ "mtu": 20 }), "mtu"),
        // A well-formed address with no device behind it.
        (json!({ "deviceID": "0000:ff:1f.7" }), "deviceID"),
    ];
    for (extra, key) in cases {
        let conf = host_conf(extra.clone(), dir.path());
        let inv = Invocation::add().attachment("c1", "net1").set("CNI_NETNS", &pod.path_str()).stdin_json(&conf);
        Binary::ours("sriov").call(&inv).check_error_naming(7, &[key]).unwrap_or_else(|e| panic!("{extra}: {e}"));
        assert!(pod.link("net1").is_none(), "{extra}: a link was left in the pod");
        assert!(!record_left(&conf), "{extra}: a record was left");
    }
}

#[test]
fn del_and_gc_without_records_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let conf = host_conf(json!({ "deviceID": null }), dir.path());
    for _ in 0..2 {
        let inv = Invocation::del().attachment("c1", "net1").set("CNI_NETNS", "").stdin_json(&conf);
        Binary::ours("sriov").call(&inv).assert_ok();
    }
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([]);
    Binary::ours("sriov").call(&Invocation::gc().stdin_json(&gc)).assert_ok();
}

/// The sysfs lookups against a fake tree (`RAILCNI_SYSFS_ROOT`, for tests
/// only): a VF whose driver has no netdev here is refused clearly, and a PF
/// that is not there is reported as such.
#[test]
fn a_vf_without_a_netdev_here_is_refused_clearly() {
    if skip_without_root("sriov sysfs tests") {
        return;
    }
    let pod = Namespace::create(&unique_prefix("rcs")).unwrap();
    let sys = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let root = sys.path();
    let mk = |p: &str| std::fs::create_dir_all(root.join(p)).unwrap();
    let ln = |to: &str, at: &str| std::os::unix::fs::symlink(root.join(to), root.join(at)).unwrap();
    mk("devices/pci0/0000:af:00.1/net/rcsnopf0");
    mk("devices/pci0/0000:af:06.0");
    mk("bus/pci/devices");
    mk("bus/pci/drivers/igbvf");
    ln("devices/pci0/0000:af:00.1", "bus/pci/devices/0000:af:00.1");
    ln("devices/pci0/0000:af:06.0", "bus/pci/devices/0000:af:06.0");
    ln("devices/pci0/0000:af:00.1", "devices/pci0/0000:af:06.0/physfn");
    ln("devices/pci0/0000:af:06.0", "devices/pci0/0000:af:00.1/virtfn0");
    ln("bus/pci/drivers/igbvf", "devices/pci0/0000:af:06.0/driver");
    let call = |conf: &Value| {
        let inv = Invocation::add()
            .attachment("c1", "net1")
            .set("CNI_NETNS", &pod.path_str())
            .set("RAILCNI_SYSFS_ROOT", &root.display().to_string())
            .stdin_json(conf);
        Binary::ours("sriov").call(&inv)
    };
    let conf = host_conf(json!({}), data.path());
    let msg = call(&conf).assert_error_naming(7, &["deviceID"]);
    assert!(msg.contains("no netdev"), "{msg}");
    // With a netdev, the lookup gets as far as the PF, which this kernel lacks.
    mk("devices/pci0/0000:af:06.0/net/rcsnovf0");
    let out = call(&conf);
    assert!(!out.success(), "{}", out.describe());
    assert!(out.stdout_str().contains("rcsnopf0"), "the error should name the PF: {}", out.describe());
    assert!(pod.link("net1").is_none());
    assert!(!record_left(&conf));
}
