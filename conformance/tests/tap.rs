//! The tap plugin through libcni: a tap in the pod that carries Ethernet
//! frames as a port of a bridge in the pod (the test attaches to it as a
//! VM would, sends an ARP request for the bridge's address and reads the
//! reply), owner, group and multi-queue as the kernel reports them, IPAM's
//! address on it, CHECK and its failure after tampering, DEL, and bad
//! input. The reference 1.1.1 has no tap plugin: nothing to compare with.
//! Needs root (SKIPPED otherwise) and `ip`.

use conformance::{self as suite, Profile, Target, Verdict};
use serde_json::{Value, json};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};
use testkit::binary::our_bin_dir;
use testkit::driver::Lib;
use testkit::lab::Lab;
use testkit::netns::{Namespace, skip_without_root};

const V: &str = "1.0.0";
const BRIDGE: &str = "br0";
const BRIDGE_IP: [u8; 4] = [10, 76, 0, 1];
const OUR_IP: [u8; 4] = [10, 76, 0, 2];
const OUR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x76, 0x02];

fn lab(keys: Value, ipam: Value) -> Option<Lab> {
    if skip_without_root("the tap tests") {
        return None;
    }
    let mut lab = Lab::ours("tap");
    lab.add_pod();
    let plugin = testkit::lab::plugin_object(json!({ "type": "tap" }), keys, ipam);
    lab.write_conflist(&lab.conflist(V, vec![plugin]));
    Some(lab)
}

fn add_bridge(pod: &Namespace) {
    pod.ip(&["link", "add", BRIDGE, "type", "bridge"]).unwrap_or_else(|e| panic!("{e}"));
    pod.ip(&["addr", "add", "10.76.0.1/24", "dev", BRIDGE]).unwrap_or_else(|e| panic!("{e}"));
    pod.ip(&["link", "set", BRIDGE, "up"]).unwrap_or_else(|e| panic!("{e}"));
}

/// Attach to tap `name` in the calling thread's namespace: TUNSETIFF with
/// IFF_TAP | IFF_NO_PI (and IFF_MULTI_QUEUE, which must match the
/// device's), whole frames on the file.
fn attach(name: &str, multi_queue: bool) -> File {
    const TUNSETIFF: u64 = 0x4004_54ca;
    const IFF_TAP: i16 = 0x0002;
    const IFF_NO_PI: i16 = 0x1000;
    const IFF_MULTI_QUEUE: i16 = 0x0100;
    #[repr(C)]
    struct IfReq {
        name: [u8; 16],
        flags: i16,
        pad: [u8; 22],
    }
    let f = OpenOptions::new().read(true).write(true).open("/dev/net/tun").expect("open /dev/net/tun");
    let mut req = IfReq {
        name: [0; 16],
        flags: IFF_TAP | IFF_NO_PI | if multi_queue { IFF_MULTI_QUEUE } else { 0 },
        pad: [0; 22],
    };
    req.name[..name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: a valid ifreq on an open descriptor, for the call's duration.
    let rc = unsafe { nix::libc::ioctl(f.as_raw_fd(), TUNSETIFF as _, &req) };
    assert_eq!(rc, 0, "TUNSETIFF {name}: {}", std::io::Error::last_os_error());
    f
}

fn arp_request() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend(OUR_MAC);
    f.extend([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend(OUR_MAC);
    f.extend(OUR_IP);
    f.extend([0; 6]);
    f.extend(BRIDGE_IP);
    f
}

/// Is `frame` an ARP reply from the bridge's address to us?
fn is_arp_reply(frame: &[u8]) -> bool {
    frame.len() >= 42
        && frame[..6] == OUR_MAC
        && frame[12..14] == [0x08, 0x06]
        && frame[20..22] == [0, 2]
        && frame[28..32] == BRIDGE_IP
}

/// Sends an ARP request through tap `name` and waits for the bridge's reply.
fn arp_through(pod: &Namespace, name: &str, multi_queue: bool) -> Result<(), String> {
    pod.run(|| {
        let mut tap = attach(name, multi_queue);
        // SAFETY: setting O_NONBLOCK on our own open descriptor.
        unsafe { nix::libc::fcntl(tap.as_raw_fd(), nix::libc::F_SETFL, nix::libc::O_NONBLOCK) };
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut buf = [0u8; 2048];
        let mut seen = 0;
        let mut last_sent = None::<Instant>;
        while Instant::now() < deadline {
            // Again every 200 ms: the port may still be coming up.
            if last_sent.is_none_or(|t| t.elapsed() > Duration::from_millis(200)) {
                tap.write_all(&arp_request()).map_err(|e| format!("write: {e}"))?;
                last_sent = Some(Instant::now());
            }
            match tap.read(&mut buf) {
                Ok(n) if is_arp_reply(&buf[..n]) => return Ok(()),
                Ok(_) => seen += 1,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        Err(format!("no ARP reply from the bridge within 3 s ({seen} other frames)"))
    })
}

fn tun_info(pod: &Namespace, name: &str) -> Value {
    let l = pod.require_link(name);
    l.raw["linkinfo"].clone()
}

#[test]
fn tap_carries_frames_as_a_bridge_port() {
    let keys = json!({ "bridge": BRIDGE, "mtu": 1400, "mac": "02:00:00:00:76:aa", "multiQueue": true,
                       "owner": 1234, "group": 4321 });
    let Some(lab) = lab(keys, json!({})) else { return };
    add_bridge(lab.pod(0));
    let (result, _) = lab.add_ok(0, Lib::Libcni);
    assert_eq!(result["interfaces"][0]["name"], "eth0", "{result}");
    assert_eq!(result["interfaces"][0]["mac"], "02:00:00:00:76:aa", "{result}");
    let pod = lab.pod(0);
    let eth0 = pod.require_link("eth0");
    assert_eq!(eth0.mtu(), 1400);
    assert_eq!(eth0.raw["master"], BRIDGE, "{}", eth0.raw);
    let info = tun_info(pod, "eth0");
    assert_eq!(info["info_kind"], "tun", "{info}");
    let data = &info["info_data"];
    assert_eq!(data["type"], "tap", "{info}");
    assert_eq!(data["multi_queue"], true, "{info}");
    assert_eq!(data["persist"], true, "{info}");
    assert_eq!(data["user"], 1234, "{info}");
    assert_eq!(data["group"], 4321, "{info}");
    arp_through(pod, "eth0", true).unwrap_or_else(|e| panic!("{e}\n{}", pod.dump()));
    lab.check_ok(0, Lib::Libcni);
    // Taken off the bridge: CHECK fails with 103.
    pod.ip(&["link", "set", "eth0", "nomaster"]).unwrap_or_else(|e| panic!("{e}"));
    lab.drive(&lab.call("check", 0)).assert_error_code(103);
    lab.del_ok(0, Lib::Libcni);
    assert!(pod.link("eth0").is_none(), "eth0 left\n{}", pod.dump());
    assert!(pod.link(BRIDGE).is_some(), "the bridge is not ours to delete");
    lab.del_ok(0, Lib::Libcni);
}

#[test]
fn tap_gets_ipams_address() {
    let Some(lab) = lab(json!({}), json!(null)) else { return };
    let ipam = lab.host_local(json!([[{ "subnet": "10.77.0.0/24" }]]));
    let plugin = testkit::lab::plugin_object(json!({ "type": "tap" }), json!({}), ipam);
    lab.write_conflist(&lab.conflist(V, vec![plugin]));
    let (result, _) = lab.add_ok(0, Lib::Libcni);
    assert_eq!(result["ips"][0]["interface"], 0, "{result}");
    let addr = result["ips"][0]["address"].as_str().unwrap_or_default().to_string();
    assert!(lab.pod(0).global_addrs("eth0").contains(&addr), "{addr} not on eth0\n{}", lab.pod(0).dump());
    let info = tun_info(lab.pod(0), "eth0");
    assert_eq!(info["info_data"]["multi_queue"], false, "{info}");
    lab.check_ok(0, Lib::Libcni);
    lab.del_ok(0, Lib::Libcni);
    lab.assert_released(0);
}

struct Bad {
    keys: fn() -> Value,
    key: &'static str,
}

fn bad_config_is_code_7(case: Bad) {
    let Some(lab) = lab((case.keys)(), json!({})) else { return };
    lab.assert_add_fails(0, 7, case.key);
    let left: Vec<String> = lab.pod(0).links().iter().map(|l| l.name().to_string()).filter(|n| n != "lo").collect();
    assert!(left.is_empty(), "links left in the pod: {left:?}");
    lab.del_ok(0, Lib::Libcni);
}

testkit::table_tests!(bad_config_is_code_7 {
    missing_bridge_is_code_7: Bad { keys: || json!({ "bridge": "nosuchbr" }), key: "bridge" },
    bad_mac_is_code_7: Bad { keys: || json!({ "mac": "02:00:00" }), key: "mac" },
    bad_mtu_is_code_7: Bad { keys: || json!({ "mtu": 20 }), key: "mtu" },
    negative_owner_is_code_7: Bad { keys: || json!({ "owner": -1 }), key: "owner" },
    bad_selinux_context_is_code_7: Bad { keys: || json!({ "selinuxcontext": "nonsense" }), key: "selinuxContext" },
});

/// The conformance suite on our tap: every check that applies passes.
/// (containernetworking-plugins 1.1.1, Debian's, has no tap: no reference
/// verdicts; `conformance/expected/reference.json` says so under "tap".)
#[test]
fn conformance_suite_passes() {
    if skip_without_root("the conformance suite") {
        return;
    }
    let target = Target::new(&our_bin_dir("debug"), Profile::find("tap").expect("profile")).unwrap();
    let report = suite::run(&target, None);
    let failed: Vec<String> = report
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(|c| format!("{}: {}", c.id, c.reason))
        .collect();
    assert!(failed.is_empty(), "railcni tap failed:\n{}", failed.join("\n"));
    assert!(report.count(Verdict::Skip) < report.checks.len() / 4, "most checks were skipped");
}
