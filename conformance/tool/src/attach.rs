//! Checks of the attachment verbs by direct exec: ADD's result in every
//! version, DEL's idempotence and cleanup, CHECK, GC, STATUS, chaining and
//! concurrency.

use crate::ctx::expect_error;
use crate::{Check, Checked, Target, Why, ensure, fail, prefix, skip};
use serde_json::{Value, json};
use testkit::binary::Invocation;
use testkit::footprint::Footprint;
use testkit::lab::Lab;

pub fn checks() -> Vec<Check> {
    vec![
        Check { id: "add.result-0.3.1", spec: "SPEC §5 ADD Success", run: |t| add_in(t, "0.3.1") },
        Check { id: "add.result-0.4.0", spec: "SPEC §5 ADD Success", run: |t| add_in(t, "0.4.0") },
        Check { id: "add.result-1.0.0", spec: "SPEC §5 ADD Success", run: |t| add_in(t, "1.0.0") },
        Check { id: "add.result-1.1.0", spec: "SPEC §5 ADD Success", run: |t| add_in(t, "1.1.0") },
        Check { id: "add.twice-is-refused", spec: "SPEC §2 ADD (interface exists)", run: add_twice },
        Check {
            id: "chain.outputs-prev-result",
            spec: "SPEC §3 Adding an attachment (prevResult)",
            run: outputs_prev_result,
        },
        Check { id: "del.idempotent", spec: "SPEC §2 DEL", run: del_twice },
        Check { id: "del.leaves-nothing", spec: "SPEC §2 DEL", run: del_leaves_nothing },
        Check { id: "del.netns-gone", spec: "SPEC §2 DEL", run: del_netns_gone },
        Check { id: "del.empty-netns", spec: "SPEC §2 DEL (no CNI_NETNS)", run: del_empty_netns },
        Check { id: "del.without-prev-result", spec: "SPEC §2 DEL", run: del_without_prev },
        Check { id: "del.never-added", spec: "SPEC §2 DEL", run: del_never_added },
        Check { id: "check.passes-after-add", spec: "SPEC §2 CHECK", run: check_after_add },
        Check { id: "check.fails-address-removed", spec: "SPEC §2 CHECK", run: |t| tamper(t, Tamper::Address) },
        Check { id: "check.fails-route-removed", spec: "SPEC §2 CHECK", run: |t| tamper(t, Tamper::Route) },
        Check { id: "check.fails-link-down", spec: "SPEC §2 CHECK", run: |t| tamper(t, Tamper::LinkDown) },
        Check { id: "check.refused-below-0.4.0", spec: "SPEC §2 CHECK (since 0.4.0)", run: check_old_version },
        Check { id: "gc.releases-invalid-only", spec: "SPEC §2 GC", run: gc_releases },
        Check { id: "gc.refused-below-1.1.0", spec: "SPEC §2 GC (since 1.1.0)", run: |t| refused_old(t, "GC") },
        Check { id: "status.succeeds", spec: "SPEC §2 STATUS", run: status_ok },
        Check {
            id: "status.refused-below-1.1.0",
            spec: "SPEC §2 STATUS (since 1.1.0)",
            run: |t| refused_old(t, "STATUS"),
        },
        Check { id: "concurrency.parallel-adds", spec: "SPEC §3 Lifecycle & Ordering", run: concurrent },
    ]
}

/// A lab with one pod and the config of network 0 in `version`.
fn one_pod(t: &Target, version: &str) -> Result<(Lab, Value), Why> {
    let mut lab = t.lab()?;
    t.add_pod(&mut lab);
    let conf = t.conf(&lab, version, 0);
    Ok((lab, conf))
}

fn add_in(t: &Target, version: &str) -> Checked {
    if !t.supports(version) {
        return skip(format!("{version} is not in supportedVersions"));
    }
    let (lab, conf) = one_pod(t, version)?;
    let before = Footprint::take(t.profile, &lab, 0);
    let result = t.add(&lab, 0, &conf)?;
    verify_result(t, &lab, 0, version, &result)?;
    t.del(&lab, 0, &conf, Some(&result))?;
    nothing_added(t, &lab, 0, &before)
}

/// The result is well-formed for `version` and matches the pod.
pub fn verify_result(t: &Target, lab: &Lab, pod: usize, version: &str, r: &Value) -> Checked {
    ensure(r["cniVersion"] == version, || {
        format!("result cniVersion {} for a {version} config: {r}", r["cniVersion"])
    })?;
    let ifaces = r["interfaces"].as_array().cloned().unwrap_or_default();
    let ips = r["ips"].as_array().cloned().unwrap_or_default();
    ensure(!ips.is_empty(), || format!("no ips in the result: {r}"))?;
    for ip in &ips {
        let addr = ip["address"].as_str().unwrap_or("");
        ensure(addr.parse::<ipnetwork::IpNetwork>().is_ok(), || format!("ips[].address {addr:?} is not a CIDR: {r}"))?;
        if version.starts_with("0.") {
            ensure(ip["version"] == "4" || ip["version"] == "6", || format!("{version} needs ips[].version: {r}"))?;
        }
        if let Some(i) = ip.get("interface").and_then(Value::as_u64) {
            ensure((i as usize) < ifaces.len(), || format!("ips[].interface {i} points past interfaces: {r}"))?;
        }
    }
    if t.is_ipam() {
        return Ok(());
    }
    let sandbox = lab.pod(pod).path_str();
    // The runtime asked for eth0; loopback reports lo whatever it is asked.
    let name = t.profile.pod_ifname("eth0");
    let mine = |i: &&Value| i["sandbox"] == sandbox.as_str() && i["name"] == name;
    let Some((idx, iface)) = ifaces.iter().enumerate().find(|(_, i)| mine(i)) else {
        return fail(format!("no interface {name} with sandbox {sandbox}: {r}"));
    };
    let Some(link) = lab.pod(pod).link(name) else {
        return fail(format!("{name} is not in the pod\n{}", lab.pod(pod).dump()));
    };
    if let Some(mac) = iface["mac"].as_str() {
        ensure(mac.eq_ignore_ascii_case(&link.mac()), || format!("result MAC {mac}, kernel {}", link.mac()))?;
    }
    if t.is_loopback() {
        return verify_lo(lab, pod, &link, idx, &ips);
    }
    let on_link = lab.pod(pod).global_addrs(name);
    for ip in ips.iter().filter(|ip| ip["interface"].as_u64() == Some(idx as u64)) {
        let addr = ip["address"].as_str().unwrap_or("");
        ensure(on_link.iter().any(|a| a == addr), || format!("{addr} is not on {name}: {on_link:?}"))?;
    }
    for route in r["routes"].as_array().into_iter().flatten() {
        let dst = route["dst"].as_str().unwrap_or("");
        let v6 = dst.contains(':');
        // `ip -j` shows a default route as "default" and a host route without its prefix.
        let want = match dst.split_once('/') {
            Some((_, "0")) => "default".to_string(),
            Some((host, "32" | "128")) => host.to_string(),
            _ => dst.to_string(),
        };
        let found = lab.pod(pod).routes(v6).iter().any(|k| k["dst"] == want.as_str());
        ensure(found, || format!("route to {dst} is not in the pod\n{}", lab.pod(pod).dump()))?;
    }
    Ok(())
}

/// Loopback's result: `lo` is up, and the addresses reported for it are
/// exactly lo's (the kernel's, scope host: not global ones).
fn verify_lo(lab: &Lab, pod: usize, lo: &testkit::kernel::LinkInfo, idx: usize, ips: &[Value]) -> Checked {
    let dump = || lab.pod(pod).dump();
    ensure(lo.admin_up(), || format!("lo is not up after ADD\n{}", dump()))?;
    let mut on_lo: Vec<String> = lab.pod(pod).addrs(Some("lo")).into_iter().map(|a| a.cidr).collect();
    let mut reported: Vec<String> = ips
        .iter()
        .filter(|ip| ip["interface"].as_u64() == Some(idx as u64))
        .filter_map(|ip| ip["address"].as_str().map(String::from))
        .collect();
    on_lo.sort();
    reported.sort();
    ensure(on_lo == reported, || format!("the result gives lo {reported:?}; the kernel {on_lo:?}"))
}

/// Fails listing what the lab holds now that it did not hold `before`.
/// The kernel tears a deleted namespace down asynchronously (a veth's host
/// end goes a moment after its pod end's namespace), so leftovers get 3 s
/// to disappear before they count.
pub fn nothing_added(t: &Target, lab: &Lab, pod: usize, before: &Footprint) -> Checked {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let left = Footprint::take(t.profile, lab, pod).added_since(before);
        if left.is_empty() {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return fail(format!("left behind: {}", left.join("; ")));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A second ADD of the same attachment: an interface plugin must refuse it
/// (the interface exists); an allocating IPAM plugin must not hand the
/// attachment a second address.
fn add_twice(t: &Target) -> Checked {
    if t.is_ipam() && !t.profile.unique_addresses {
        return skip("this type hands out the configured address; there is nothing to allocate twice");
    }
    if t.is_chained() {
        return skip(
            "a chained plugin does not create the interface; refusing its second ADD is the interface plugin's job",
        );
    }
    if t.is_loopback() {
        return skip(
            "loopback creates nothing: a second ADD brings the pod's lo up again and succeeds, as the reference's",
        );
    }
    let (lab, conf) = one_pod(t, t.latest()?)?;
    let result = t.add(&lab, 0, &conf)?;
    let second = t.verb(&lab, "ADD", 0, &conf);
    if t.is_ipam() {
        let held = t.held_by(&lab, 0);
        t.del(&lab, 0, &conf, Some(&result))?;
        return ensure(held.len() <= 1, || format!("one attachment now holds {} addresses: {held:?}", held.len()));
    }
    let refused = expect_error(&second, None);
    let version = conf["cniVersion"].as_str().unwrap_or_default();
    let intact = verify_result(t, &lab, 0, version, &result);
    t.del(&lab, 0, &conf, Some(&result))?;
    refused.map_err(|e| prefix(e, "second ADD of the same attachment"))?;
    intact.map_err(|e| prefix(e, "the refused ADD broke the first attachment"))
}

/// With a `prevResult`, the plugin's result carries it on.
fn outputs_prev_result(t: &Target) -> Checked {
    if t.is_ipam() {
        return skip("IPAM plugins are delegates, not chained plugins");
    }
    let (lab, mut conf) = one_pod(t, t.latest()?)?;
    let sandbox = lab.pod(0).path_str();
    let mut prev = json!({
        "cniVersion": conf["cniVersion"],
        "interfaces": [{ "name": "lo", "mac": "00:00:00:00:00:00", "sandbox": sandbox }],
        "ips": [{ "address": "127.0.0.1/8", "interface": 0 }],
    });
    if t.is_chained() {
        // The interface plugin's result after lo's: what the chained plugin works on.
        append_result(&mut prev, &t.prev_result(&lab, 0, &conf).map_err(Why::Fail)?);
    }
    if t.is_loopback() {
        // An entry loopback's own result would never have, so that a result
        // made from scratch cannot pass for the passthrough.
        let eth0 = json!({ "interfaces": [{ "name": "eth0", "mac": "c2:00:00:00:00:01", "sandbox": sandbox }],
                           "ips": [{ "address": "10.90.0.5/24", "interface": 0 }] });
        append_result(&mut prev, &eth0);
    }
    conf["prevResult"] = prev.clone();
    let result = t.add(&lab, 0, &conf)?;
    conf.as_object_mut().map(|o| o.remove("prevResult"));
    t.del(&lab, 0, &conf, Some(&result))?;
    if t.is_loopback() {
        // Passed through whole: the same interfaces and addresses, in order.
        let same = ["interfaces", "ips"].iter().all(|k| result[*k] == prev[*k]);
        return ensure(same, || format!("prevResult {prev} came out as {result}"));
    }
    let has_lo = result["interfaces"].as_array().into_iter().flatten().any(|i| i["name"] == "lo");
    let has_127 = result["ips"].as_array().into_iter().flatten().any(|i| i["address"] == "127.0.0.1/8");
    ensure(has_lo && has_127, || format!("prevResult's lo and 127.0.0.1/8 are missing from the result: {result}"))
}

/// `more`'s interfaces, addresses and routes after `into`'s, its
/// `ips[].interface` indexes shifted past `into`'s interfaces.
fn append_result(into: &mut Value, more: &Value) {
    let shift = into["interfaces"].as_array().map_or(0, Vec::len) as u64;
    for key in ["interfaces", "ips", "routes"] {
        for mut item in more[key].as_array().cloned().unwrap_or_default() {
            if let Some(i) = item.get("interface").and_then(Value::as_u64) {
                item["interface"] = json!(i + shift);
            }
            if !into[key].is_array() {
                into[key] = json!([]);
            }
            into[key].as_array_mut().expect("array").push(item);
        }
    }
}

fn del_twice(t: &Target) -> Checked {
    let (lab, conf) = one_pod(t, t.latest()?)?;
    let result = t.add(&lab, 0, &conf)?;
    t.del(&lab, 0, &conf, Some(&result))?;
    t.del(&lab, 0, &conf, Some(&result)).map_err(|e| prefix(e, "second DEL"))
}

fn del_leaves_nothing(t: &Target) -> Checked {
    let (lab, conf) = one_pod(t, t.latest()?)?;
    let before = Footprint::take(t.profile, &lab, 0);
    let result = t.add(&lab, 0, &conf)?;
    t.del(&lab, 0, &conf, Some(&result))?;
    nothing_added(t, &lab, 0, &before)
}

fn del_netns_gone(t: &Target) -> Checked {
    if t.is_ipam() {
        return skip("an IPAM plugin does not use the netns");
    }
    let (lab, conf) = one_pod(t, t.latest()?)?;
    let before = Footprint::take(t.profile, &lab, 0);
    let result = t.add(&lab, 0, &conf)?;
    lab.pod(0).delete().map_err(Why::Fail)?;
    t.del(&lab, 0, &conf, Some(&result))?;
    nothing_added(t, &lab, 0, &before)
}

fn del_empty_netns(t: &Target) -> Checked {
    let (lab, conf) = one_pod(t, t.latest()?)?;
    let result = t.add(&lab, 0, &conf)?;
    let stdin = testkit::conf::with_prev_result(&conf, &result);
    let inv = Invocation::del().attachment(&lab.cid(0), "eth0").set("CNI_NETNS", "").stdin_json(&stdin);
    let out = t.exec(&lab, &inv);
    let cleanup = t.del(&lab, 0, &conf, Some(&result));
    out.check_ok_silent().or_else(|e| fail(format!("DEL with CNI_NETNS=\"\": {e}")))?;
    cleanup
}

fn del_without_prev(t: &Target) -> Checked {
    let (lab, conf) = one_pod(t, t.latest()?)?;
    let before = Footprint::take(t.profile, &lab, 0);
    t.add(&lab, 0, &conf)?;
    t.del(&lab, 0, &conf, None)?;
    nothing_added(t, &lab, 0, &before)
}

fn del_never_added(t: &Target) -> Checked {
    let (lab, conf) = one_pod(t, t.latest()?)?;
    t.del(&lab, 0, &conf, None)
}

fn check_after_add(t: &Target) -> Checked {
    let (lab, conf) = one_pod(t, t.latest()?)?;
    let result = t.add(&lab, 0, &conf)?;
    let out = t.verb(&lab, "CHECK", 0, &testkit::conf::with_prev_result(&conf, &result));
    t.del(&lab, 0, &conf, Some(&result))?;
    out.check_ok_silent().or_else(|e| fail(format!("CHECK right after ADD: {e}")))
}

#[derive(Clone, Copy)]
enum Tamper {
    Address,
    Route,
    LinkDown,
}

/// CHECK must notice a change to what ADD set up.
fn tamper(t: &Target, how: Tamper) -> Checked {
    if t.is_ipam() {
        return skip("an IPAM plugin has no interface to tamper with");
    }
    if t.is_loopback() && !matches!(how, Tamper::LinkDown) {
        return skip("lo's addresses and routes are the kernel's, not loopback's: its CHECK is that lo is up");
    }
    if matches!(how, Tamper::Route) && t.profile.tamper_route.is_empty() {
        return skip(format!("{} makes no route", t.profile.name));
    }
    let (lab, conf) = one_pod(t, t.latest()?)?;
    let result = t.add(&lab, 0, &conf)?;
    let pod = lab.pod(0);
    let ifname = t.profile.pod_ifname("eth0");
    let done = match how {
        Tamper::Address => {
            let addr = result["ips"][0]["address"].as_str().unwrap_or_default();
            pod.ip(&["addr", "del", addr, "dev", ifname])
        }
        Tamper::Route => pod.ip(&[&["route", "del"], t.profile.tamper_route].concat()),
        Tamper::LinkDown => pod.ip(&["link", "set", ifname, "down"]),
    };
    let out = t.verb(&lab, "CHECK", 0, &testkit::conf::with_prev_result(&conf, &result));
    t.del(&lab, 0, &conf, Some(&result))?;
    done.map_err(|e| Why::Fail(format!("tampering failed: {e}")))?;
    expect_error(&out, None).map(drop).map_err(|e| prefix(e, "CHECK after tampering"))
}

fn check_old_version(t: &Target) -> Checked {
    if !t.supports("0.3.1") {
        return skip("0.3.1 is not in supportedVersions");
    }
    let (lab, conf) = one_pod(t, "0.3.1")?;
    let result = t.add(&lab, 0, &conf)?;
    let out = t.verb(&lab, "CHECK", 0, &testkit::conf::with_prev_result(&conf, &result));
    t.del(&lab, 0, &conf, Some(&result))?;
    expect_error(&out, None).map(drop)
}

fn gc_releases(t: &Target) -> Checked {
    if !t.supports("1.1.0") {
        return skip("GC needs 1.1.0, which is not in supportedVersions");
    }
    if !t.profile.shared() {
        return skip("needs two attachments on one network");
    }
    if t.is_loopback() {
        return skip("loopback holds nothing for GC to release");
    }
    let mut lab = t.lab()?;
    let (a, b) = (t.add_pod(&mut lab), t.add_pod(&mut lab));
    let conf = t.conf(&lab, "1.1.0", 0);
    let ra = t.add(&lab, a, &conf)?;
    let rb = t.add(&lab, b, &conf)?;
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([{ "containerID": lab.cid(a), "ifname": "eth0" }]);
    let out = t.exec(&lab, &Invocation::gc().stdin_json(&gc));
    let (held_a, held_b) = (t.held_by(&lab, a), t.held_by(&lab, b));
    t.del(&lab, a, &conf, Some(&ra))?;
    t.del(&lab, b, &conf, Some(&rb))?;
    out.check_ok_silent().or_else(|e| fail(format!("GC: {e}")))?;
    if !t.profile.unique_addresses || t.is_chained() {
        return Ok(()); // static and chained plugins hold no addresses
    }
    ensure(!held_a.is_empty(), || "GC released the valid attachment's address".into())?;
    ensure(held_b.is_empty(), || format!("GC kept the invalid attachment's address: {held_b:?}"))
}

fn status_ok(t: &Target) -> Checked {
    if !t.supports("1.1.0") {
        return skip("STATUS needs 1.1.0, which is not in supportedVersions");
    }
    let lab = t.lab()?;
    let out = t.exec(&lab, &Invocation::status().stdin_json(&t.conf(&lab, "1.1.0", 0)));
    out.check_ok_silent().or_else(|e| fail(format!("STATUS: {e}")))
}

/// GC and STATUS are 1.1.0 verbs: an older config gets an error.
fn refused_old(t: &Target, verb: &str) -> Checked {
    let lab = t.lab()?;
    let old = if t.supports("1.0.0") { "1.0.0" } else { "0.4.0" };
    let inv = Invocation::network_verb(verb).stdin_json(&t.conf(&lab, old, 0));
    expect_error(&t.exec(&lab, &inv), None).map(drop).map_err(|e| prefix(e, &format!("{verb} in {old}")))
}

/// Parallel ADDs of distinct attachments all succeed with distinct
/// addresses, and their DELs leave nothing.
fn concurrent(t: &Target) -> Checked {
    const N: usize = 8;
    // Every pod's lo has the same addresses: for loopback, the parallel
    // ADDs must each bring their own pod's lo up.
    if !t.is_loopback() && (!t.profile.unique_addresses || !t.profile.shared()) {
        return skip("needs attachments with distinct addresses on one network");
    }
    let mut lab = t.lab()?;
    // One device per pod where the type needs devices.
    let n = if lab.devices.is_empty() { N } else { N.min(lab.devices.len()) };
    let pods: Vec<usize> = (0..n).map(|_| t.add_pod(&mut lab)).collect();
    let conf = t.conf(&lab, t.latest()?, 0);
    let before: Vec<Footprint> = pods.iter().map(|&p| Footprint::take(t.profile, &lab, p)).collect();
    let outs: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = pods
            .iter()
            .map(|&p| {
                s.spawn({
                    let (lab, conf) = (&lab, &conf);
                    move || t.verb(lab, "ADD", p, conf)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("ADD thread")).collect()
    });
    let mut addrs = Vec::new();
    let mut errors = Vec::new();
    for (p, out) in pods.iter().zip(&outs) {
        match out.check_ok_json() {
            Ok(r) if t.is_loopback() => {
                if let Err(Why::Fail(e)) = verify_result(t, &lab, *p, conf["cniVersion"].as_str().unwrap_or(""), &r) {
                    errors.push(format!("pod {p}: {e}"));
                }
            }
            Ok(r) => addrs.push(r["ips"][0]["address"].as_str().unwrap_or("").to_string()),
            Err(e) => errors.push(format!("pod {p}: {e}")),
        }
    }
    let dels: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = pods
            .iter()
            .map(|&p| {
                s.spawn({
                    let (lab, conf) = (&lab, &conf);
                    move || t.del(lab, p, conf, None)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("DEL thread")).collect()
    });
    ensure(errors.is_empty(), || format!("{} of {n} parallel ADDs failed: {}", errors.len(), errors.join("; ")))?;
    if !t.is_loopback() {
        let mut unique = addrs.clone();
        unique.sort();
        unique.dedup();
        ensure(unique.len() == n, || format!("addresses are not unique: {addrs:?}"))?;
    }
    for d in dels {
        d.map_err(|e| prefix(e, "parallel DEL"))?;
    }
    for (p, b) in pods.iter().zip(&before) {
        nothing_added(t, &lab, *p, b)?;
    }
    Ok(())
}
