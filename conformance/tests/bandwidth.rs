//! The bandwidth plugin chained after ptp, through libcni and by direct
//! exec: a 10 Mbit/s limit measurably caps a TCP transfer into and out of
//! the pod (and the same pod without it is much faster), CHECK sees the
//! qdiscs, DEL removes the ifb and the qdiscs (also without the netns),
//! the ifb name and the qdiscs match the reference's, and bad input is a
//! clean CNI error that leaves nothing. Needs root (SKIPPED otherwise),
//! `ip` and `tc` (to look at the kernel, never to change it).

use conformance::{self as suite, Profile, Target, Verdict};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};
use testkit::binary::{REFERENCE_DIR, our_bin_dir, our_cni_path};
use testkit::conf::with_prev_result;
use testkit::driver::Lib;
use testkit::lab::Lab;
use testkit::netns::{Namespace, skip_without_root};
use testkit::{Binary, Invocation};

/// The driver's libcni (1.1.2) cannot parse 1.1.0 results.
const V: &str = "1.0.0";
const SUBNET: &str = "10.74.0.0/24";
const GATEWAY: &str = "10.74.0.1";
const RATE: u64 = 10_000_000;
/// 10 KB: well above one MTU-sized packet, small next to a second's worth.
const BURST: u64 = 80_000;
/// How long each measured transfer lasts.
const WINDOW: Duration = Duration::from_millis(1500);

fn lab(with_bandwidth: bool) -> Option<Lab> {
    if skip_without_root("the bandwidth tests") {
        return None;
    }
    let mut lab = Lab::new(&our_cni_path(&["ptp", "bandwidth", "host-local"]));
    lab.add_pod();
    let mut plugins = vec![ptp(&lab)];
    if with_bandwidth {
        plugins.push(limits());
    }
    lab.write_conflist(&lab.conflist(V, plugins));
    Some(lab)
}

fn ptp(lab: &Lab) -> Value {
    testkit::lab::plugin_object(json!({ "type": "ptp" }), json!({}), lab.host_local(json!([[{ "subnet": SUBNET }]])))
}

fn limits() -> Value {
    json!({ "type": "bandwidth", "ingressRate": RATE, "ingressBurst": BURST, "egressRate": RATE, "egressBurst": BURST })
}

fn pod_address(result: &Value) -> String {
    let a = result["ips"][0]["address"].as_str().unwrap_or_else(|| panic!("no address in {result}"));
    a.split('/').next().unwrap_or_default().to_string()
}

/// Mbit/s of one TCP connection from `client` to a listener in `server` on
/// `ip`, counted by the receiver over [`WINDOW`] from its first byte.
fn throughput(server: &Namespace, client: &Namespace, ip: &str) -> f64 {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        let receiver = s.spawn(move || {
            server.run(|| {
                let l = TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("listen on {ip}: {e}"));
                tx.send(l.local_addr().expect("addr").port()).expect("send port");
                // Never waits for ever: a client that could not connect fails the test on its side.
                l.set_nonblocking(true).expect("nonblocking");
                let until = Instant::now() + Duration::from_secs(5);
                let mut conn = loop {
                    match l.accept() {
                        Ok((c, _)) => break c,
                        Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(10)),
                        Err(e) => return Err(format!("no connection to {ip}: {e}")),
                    }
                };
                conn.set_nonblocking(false).expect("blocking");
                conn.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
                let mut buf = vec![0u8; 1 << 16];
                let mut total = 0usize;
                let mut start = None;
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            start.get_or_insert_with(Instant::now);
                            total += n;
                        }
                        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                        }
                        Err(e) => return Err(format!("read: {e}")),
                    }
                    if start.is_some_and(|t: Instant| t.elapsed() >= WINDOW) {
                        break;
                    }
                }
                let secs = start.map_or(1.0, |t| t.elapsed().as_secs_f64());
                Ok(total as f64 * 8.0 / secs / 1e6)
            })
        });
        let port = rx.recv().expect("port");
        let sent = client.run(|| {
            let mut conn = TcpStream::connect((ip, port)).map_err(|e| format!("connect to {ip}:{port}: {e}"))?;
            conn.set_write_timeout(Some(Duration::from_secs(1))).expect("timeout");
            let chunk = vec![7u8; 1 << 16];
            let deadline = Instant::now() + WINDOW * 4;
            // Until the receiver hangs up.
            while Instant::now() < deadline && conn.write_all(&chunk).is_ok() {}
            Ok::<(), String>(())
        });
        let got = receiver.join().expect("receiver");
        sent.and(got).unwrap_or_else(|e| panic!("{e}\n{}\n{}", server.dump(), qdiscs(server)))
    })
}

/// `tc qdisc show` in `ns`, one line per qdisc.
fn qdiscs(ns: &Namespace) -> String {
    let out = ns.exec(&["tc", "qdisc", "show"]);
    assert!(out.status.success(), "tc qdisc show: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ifbs(lab: &Lab) -> Vec<String> {
    lab.host.link_names("bwp")
}

#[test]
fn ten_mbit_caps_tcp_both_ways_and_del_removes_everything() {
    let Some(lab) = lab(true) else { return };
    let (result, _) = lab.add_ok(0, Lib::Libcni);
    let host_veth = result["interfaces"][0]["name"].as_str().unwrap_or_default().to_string();
    // ptp's interfaces, then the ifb, as the reference appends it.
    let ifb = result["interfaces"][2]["name"].as_str().unwrap_or_else(|| panic!("no ifb in {result}")).to_string();
    assert!(ifb.starts_with("bwp") && ifb.len() == 15, "{result}");
    assert_eq!(ifbs(&lab), vec![ifb.clone()]);
    let tc = qdiscs(&lab.host);
    for dev in [&host_veth, &ifb] {
        assert!(
            tc.lines().any(|l| l.starts_with(&format!("qdisc tbf 1: dev {dev} root")) && l.contains("rate 10Mbit")),
            "no 10 Mbit/s tbf on {dev}:\n{tc}"
        );
    }
    assert!(tc.lines().any(|l| l.starts_with("qdisc ingress ffff:") && l.contains(&host_veth)), "{tc}");
    lab.check_ok(0, Lib::Libcni);

    let pod_ip = pod_address(&result);
    let out = throughput(&lab.host, lab.pod(0), GATEWAY);
    let into = throughput(lab.pod(0), &lab.host, &pod_ip);
    eprintln!("shaped: out of the pod {out:.2} Mbit/s, into the pod {into:.2} Mbit/s");
    assert!((5.0..12.0).contains(&out), "egress {out:.2} Mbit/s is not about 10");
    assert!((5.0..12.0).contains(&into), "ingress {into:.2} Mbit/s is not about 10");

    lab.del_ok(0, Lib::Libcni);
    assert!(ifbs(&lab).is_empty(), "ifb left: {:?}", ifbs(&lab));
    let tc = qdiscs(&lab.host);
    assert!(!tc.contains("tbf") && !tc.contains("ingress"), "qdiscs left:\n{tc}");
    lab.del_ok(0, Lib::Libcni);
}

#[test]
fn unshaped_is_much_faster() {
    let Some(lab) = lab(false) else { return };
    let (result, _) = lab.add_ok(0, Lib::Libcni);
    let out = throughput(&lab.host, lab.pod(0), GATEWAY);
    let into = throughput(lab.pod(0), &lab.host, &pod_address(&result));
    eprintln!("unshaped: out of the pod {out:.0} Mbit/s, into the pod {into:.0} Mbit/s");
    assert!(out > 50.0 && into > 50.0, "unshaped {out:.0} / {into:.0} Mbit/s");
    lab.del_ok(0, Lib::Libcni);
}

/// A lab whose bandwidth has the rates and `subnets` (a key and its list).
fn subnet_lab(key: &str, list: Value) -> Option<Lab> {
    let lab = lab(true)?;
    let mut bw = limits();
    bw[key] = list;
    lab.write_conflist(&lab.conflist(V, vec![ptp(&lab), bw]));
    Some(lab)
}

/// Mbit/s out of and into pod 0 of `lab` (ADD before, DEL after), and the
/// root qdiscs ADD made.
fn both_ways(lab: &Lab) -> (f64, f64, String) {
    let (result, _) = lab.add_ok(0, Lib::Libcni);
    lab.check_ok(0, Lib::Libcni);
    let tc = qdiscs(&lab.host);
    let out = throughput(&lab.host, lab.pod(0), GATEWAY);
    let into = throughput(lab.pod(0), &lab.host, &pod_address(&result));
    lab.del_ok(0, Lib::Libcni);
    assert!(ifbs(lab).is_empty(), "ifb left: {:?}", ifbs(lab));
    let left = qdiscs(&lab.host);
    assert!(!left.contains("htb") && !left.contains("ingress"), "qdiscs left:\n{left}");
    (out, into, tc)
}

/// shapedSubnets limits only traffic with those subnets, unshapedSubnets
/// all but it (an htb tree on the host veth and on the ifb).
#[test]
fn subnets_choose_what_is_limited() {
    let gw = json!([format!("{GATEWAY}/32")]);
    let cases = [
        ("shapedSubnets", gw.clone(), true),
        ("shapedSubnets", json!(["192.0.2.0/24", "2001:db8::/32"]), false),
        ("unshapedSubnets", gw, false),
        ("unshapedSubnets", json!(["192.0.2.0/24"]), true),
    ];
    for (key, list, limited) in cases {
        let Some(lab) = subnet_lab(key, list.clone()) else { return };
        let (out, into, tc) = both_ways(&lab);
        eprintln!("{key} {list}: out of the pod {out:.1} Mbit/s, into the pod {into:.1} Mbit/s");
        assert!(tc.contains("qdisc htb 1: dev"), "no htb:\n{tc}");
        if limited {
            assert!((5.0..12.0).contains(&out) && (5.0..12.0).contains(&into), "{key} {list}: {out:.1} / {into:.1}");
        } else {
            assert!(out > 50.0 && into > 50.0, "{key} {list}: {out:.1} / {into:.1} Mbit/s, should be unlimited");
        }
    }
}

/// Our bandwidth and the reference's on the same ptp attachment, exec'd as
/// libcni would chain them: the same ifb name, the same qdisc lines.
#[test]
fn ifb_name_and_qdiscs_match_the_reference() {
    let Some(lab) = lab(false) else { return };
    let (prev, _) = lab.add_ok(0, Lib::Libcni);
    let conf = with_prev_result(&lab.plugin_conf(V, limits()), &prev);
    let inv = |verb: fn() -> Invocation| {
        verb().attachment(&lab.cid(0), "eth0").set("CNI_NETNS", &lab.pod(0).path_str()).stdin_json(&conf)
    };
    let mut seen = Vec::new();
    for plugin in [Binary::ours("bandwidth"), Binary::reference("bandwidth")] {
        let result = lab.exec_plugin(&plugin, &inv(Invocation::add)).check_ok_json().unwrap_or_else(|e| panic!("{e}"));
        let ifb = result["interfaces"][2]["name"].clone();
        // Interface indexes differ between the two runs; the rest must not.
        let tc: Vec<String> = qdiscs(&lab.host)
            .lines()
            .filter(|l| l.contains("tbf") || l.contains("ingress"))
            .map(|l| l.split(" dev ").next().unwrap_or_default().to_string())
            .collect();
        seen.push((ifb, tc));
        lab.exec_plugin(&plugin, &inv(Invocation::del)).assert_ok_silent();
        // The reference leaves the host end's qdiscs to the veth's own DEL.
        for q in ["root", "ingress"] {
            let host_veth = prev["interfaces"][0]["name"].as_str().unwrap_or_default();
            let _ = lab.host.exec(&["tc", "qdisc", "del", "dev", host_veth, q]);
        }
        assert!(ifbs(&lab).is_empty(), "{} left an ifb", plugin.label());
    }
    assert_eq!(seen[0], seen[1], "ours, then the reference's");
    lab.del_ok(0, Lib::Libcni);
}

#[test]
fn del_without_netns_or_prev_result_removes_the_ifb() {
    let Some(lab) = lab(true) else { return };
    let (result, _) = lab.add_ok(0, Lib::Libcni);
    assert_eq!(ifbs(&lab).len(), 1);
    // CHECK sees a tampered ifb.
    let ifb = ifbs(&lab)[0].clone();
    let tampered = lab.host.exec(&["tc", "qdisc", "del", "dev", &ifb, "root"]);
    assert!(tampered.status.success());
    let out = lab.drive(&lab.call("check", 0));
    out.assert_error_code(103);
    let conf = lab.plugin_conf(V, limits());
    let bw = Binary::ours("bandwidth");
    // No netns, no prevResult: the ifb is found by name.
    let inv = Invocation::del().attachment(&lab.cid(0), "eth0").set("CNI_NETNS", "").stdin_json(&conf);
    lab.exec_plugin(&bw, &inv).assert_ok_silent();
    assert!(ifbs(&lab).is_empty(), "ifb left: {:?}", ifbs(&lab));
    lab.del_without_netns(&bw, 0, &conf, &result).assert_ok_silent();
    lab.del_ok(0, Lib::Libcni);
}

/// Bad input by direct exec (with a real prevResult): code `code` naming
/// `key`, and no ifb or qdisc left.
struct Bad {
    keys: fn() -> Value,
    code: u64,
    key: &'static str,
}

fn bad_input_is_refused(case: Bad) {
    let Some(lab) = lab(false) else { return };
    let (prev, _) = lab.add_ok(0, Lib::Libcni);
    let mut conf = with_prev_result(&lab.plugin_conf(V, json!({ "type": "bandwidth" })), &prev);
    // The row's keys over the config; `null` removes one.
    for (k, v) in (case.keys)().as_object().cloned().unwrap_or_default() {
        let Some(o) = conf.as_object_mut() else { continue };
        match v {
            Value::Null => o.remove(&k),
            v => o.insert(k, v),
        };
    }
    let inv =
        Invocation::add().attachment(&lab.cid(0), "eth0").set("CNI_NETNS", &lab.pod(0).path_str()).stdin_json(&conf);
    let out = lab.exec_plugin(&Binary::ours("bandwidth"), &inv);
    let msg = out.check_error(case.code).unwrap_or_else(|e| panic!("{e}"));
    assert!(msg.contains(case.key), "msg must name {}: {msg}", case.key);
    assert!(ifbs(&lab).is_empty(), "ifb left: {:?}", ifbs(&lab));
    let tc = qdiscs(&lab.host);
    assert!(!tc.contains("tbf") && !tc.contains("ingress"), "qdiscs left:\n{tc}");
    lab.del_ok(0, Lib::Libcni);
}

testkit::table_tests!(bad_input_is_refused {
    rate_without_burst_is_code_7: Bad { keys: || json!({ "ingressRate": 1000 }), code: 7, key: "ingressBurst" },
    burst_without_rate_is_code_7: Bad { keys: || json!({ "egressBurst": 1000 }), code: 7, key: "egressRate" },
    burst_over_4gb_is_code_7: Bad {
        keys: || json!({ "egressRate": 1000, "egressBurst": 40_000_000_000u64 }),
        code: 7,
        key: "egressBurst"
    },
    rate_below_8_bits_is_code_7: Bad {
        keys: || json!({ "ingressRate": 7, "ingressBurst": 100 }),
        code: 7,
        key: "ingressRate"
    },
    negative_rate_is_code_7: Bad {
        keys: || json!({ "ingressRate": -1, "ingressBurst": 100 }),
        code: 7,
        key: "ingressRate"
    },
    both_subnet_lists_is_code_7: Bad {
        keys: || json!({ "ingressRate": 1000, "ingressBurst": 1000, "shapedSubnets": ["10.0.0.0/8"], "unshapedSubnets": ["10.1.0.0/16"] }),
        code: 7,
        key: "shapedSubnets"
    },
    bad_subnet_is_code_7: Bad {
        keys: || json!({ "unshapedSubnets": ["10.0.0.0/33"] }),
        code: 7,
        key: "unshapedSubnets[0]"
    },
    runtime_config_bad_burst_is_code_7: Bad {
        keys: || json!({ "runtimeConfig": { "bandwidth": { "egressRate": 1000 } } }),
        code: 7,
        key: "runtimeConfig.bandwidth.egressBurst"
    },
    no_prev_result_is_code_7: Bad {
        keys: || json!({ "ingressRate": 1000, "ingressBurst": 1000, "prevResult": null }),
        code: 7,
        key: "prevResult"
    },
    version_0_2_0_is_code_1: Bad {
        keys: || json!({ "ingressRate": 1000, "ingressBurst": 1000, "cniVersion": "0.2.0" }),
        code: 1,
        key: "0.3.0"
    },
});

/// The conformance suite on our bandwidth (after its profile's ptp prelude):
/// every check that applies passes.
#[test]
fn conformance_suite_passes() {
    if skip_without_root("the conformance suite") {
        return;
    }
    let target = Target::new(&our_bin_dir("debug"), Profile::find("bandwidth").expect("profile")).unwrap();
    let report = suite::run(&target, None);
    let failed: Vec<String> = report
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(|c| format!("{}: {}", c.id, c.reason))
        .collect();
    assert!(failed.is_empty(), "railcni bandwidth failed:\n{}", failed.join("\n"));
    assert!(report.count(Verdict::Skip) < report.checks.len() / 4, "most checks were skipped");
}

/// The reference bandwidth's verdicts, as `conformance/expected/reference.json`
/// records them under "bandwidth" (`RAILCNI_UPDATE_EXPECTED=1` rewrites that
/// entry alone; `suite.rs` owns the others).
#[test]
fn reference_verdicts_match_the_expected_file() {
    if skip_without_root("the conformance suite") || !Path::new(REFERENCE_DIR).join("bandwidth").exists() {
        return;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../expected/reference.json");
    let mut file: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_default()).unwrap_or(json!({}));
    let target = Target::new(Path::new(REFERENCE_DIR), Profile::find("bandwidth").expect("profile")).unwrap();
    let report = suite::run(&target, None);
    let mut got = serde_json::Map::new();
    let mut diffs = Vec::new();
    for c in &report.checks {
        let v = json!(c.verdict);
        if file["bandwidth"][c.id] != v {
            diffs.push(format!("{}: expected {}, got {v} ({})", c.id, file["bandwidth"][c.id], c.reason));
        }
        got.insert(c.id.to_string(), v);
    }
    if std::env::var_os("RAILCNI_UPDATE_EXPECTED").is_some() {
        file["bandwidth"] = Value::Object(got);
        std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap() + "\n").unwrap();
        return;
    }
    assert!(diffs.is_empty(), "the reference bandwidth's verdicts changed:\n{}", diffs.join("\n"));
}

/// The `bandwidth` capability through libcni: `runtimeConfig.bandwidth`
/// overrides the config's limits (CONVENTIONS.md; the reference 1.1.1
/// keeps the config's), here 1 Gbit/s in the config, 20 Mbit/s and 5
/// Mbit/s from the runtime.
#[test]
fn the_bandwidth_capability_overrides_the_config() {
    let Some(lab) = lab(false) else { return };
    let mut bw = json!({ "type": "bandwidth", "capabilities": { "bandwidth": true } });
    for (k, v) in [
        ("ingressRate", 1_000_000_000u64),
        ("ingressBurst", 800_000),
        ("egressRate", 1_000_000_000),
        ("egressBurst", 800_000),
    ] {
        bw[k] = json!(v);
    }
    lab.write_conflist(&lab.conflist(V, vec![ptp(&lab), bw]));
    let cap = json!({ "bandwidth": { "ingressRate": 20_000_000, "ingressBurst": BURST, "egressRate": 5_000_000, "egressBurst": BURST } });
    let out = lab.drive(&lab.call("add", 0).cap_args(cap.clone()));
    let result = out.assert_result(Lib::Libcni);
    let host_veth = result["interfaces"][0]["name"].as_str().unwrap_or_default().to_string();
    let ifb = result["interfaces"][2]["name"].as_str().unwrap_or_default().to_string();
    let tc = qdiscs(&lab.host);
    let rate_of = |dev: &str| {
        tc.lines()
            .find(|l| l.starts_with(&format!("qdisc tbf 1: dev {dev} root")))
            .map(|l| l.split_whitespace().skip_while(|w| *w != "rate").nth(1).unwrap_or_default().to_string())
    };
    assert_eq!(rate_of(&host_veth).as_deref(), Some("20Mbit"), "into the pod:\n{tc}");
    assert_eq!(rate_of(&ifb).as_deref(), Some("5Mbit"), "out of the pod:\n{tc}");
    lab.drive(&lab.call("check", 0).cap_args(cap.clone())).assert_ok();
    lab.drive(&lab.call("del", 0).cap_args(cap)).assert_ok();
    assert!(ifbs(&lab).is_empty(), "ifb left: {:?}", ifbs(&lab));
}
