//! ADD / CHECK / DEL / DEL for every spec version, for host-local and static;
//! VERSION and the no-command behaviour.

use serde_json::{Value, json};
use std::net::IpAddr;
use testkit::result::{self, ALL_VERSIONS};
use testkit::{Binary, DataDir, Invocation, conf, store, unique_name};

/// CHECK/DEL stdin as a runtime sends it: with `prevResult` from 0.4.0 on.
fn followup_conf(version: &str, c: &Value, add_result: &Value) -> Value {
    if result::has_check(version) { conf::with_prev_result(c, add_result) } else { c.clone() }
}

fn host_local_cycle(version: &str) {
    let p = Binary::ours("host-local");
    let dd = DataDir::new();
    let name = unique_name("matrix");
    // One v4 and one v6 range set: the legacy versions allow one IP per family.
    let ranges = json!([[{ "subnet": "10.77.0.0/24" }], [{ "subnet": "fd77::/64" }]]);
    let c = conf::host_local(version, &name, dd.path(), ranges);

    let out = p.add(&c, "cid-matrix", "eth0");
    let v = out.assert_ok_json();
    let r = result::parse(version, &v).unwrap_or_else(|e| panic!("{e}\n{}", out.describe()));
    assert_ipam_shape(&v, &out);
    assert_eq!(r.ips.len(), 2, "one address per range set\n{}", out.describe());
    let v4 = r.ips.iter().find(|e| e.address.is_ipv4()).expect("an IPv4 address");
    let v6 = r.ips.iter().find(|e| e.address.is_ipv6()).expect("an IPv6 address");
    assert_eq!(v4.address.prefix(), 24, "{}", out.describe());
    assert_eq!(v6.address.prefix(), 64, "{}", out.describe());
    assert!("10.77.0.0/24".parse::<ipnetwork::IpNetwork>().unwrap().contains(v4.address.ip()));
    assert!("fd77::/64".parse::<ipnetwork::IpNetwork>().unwrap().contains(v6.address.ip()));
    assert_eq!(v4.gateway, Some("10.77.0.1".parse::<IpAddr>().unwrap()), "{}", out.describe());
    assert_eq!(v6.gateway, Some("fd77::1".parse::<IpAddr>().unwrap()), "{}", out.describe());

    let held = dd.reservations(&name);
    assert_eq!(held.len(), 2, "two reservation files: {held:?}");
    for e in &r.ips {
        assert_eq!(
            held.get(&e.address.ip().to_string()).map(String::as_str),
            Some(store::reservation_content("cid-matrix", "eth0").as_str()),
            "reservation file for {} in {held:?}",
            e.address.ip()
        );
    }

    let follow = followup_conf(version, &c, &v);
    if result::has_check(version) {
        p.call(&Invocation::check().attachment("cid-matrix", "eth0").stdin_json(&follow)).assert_ok_silent();
    }
    let del = Invocation::del().attachment("cid-matrix", "eth0").stdin_json(&follow);
    p.call(&del).assert_ok_silent();
    assert_store_released(&dd, &name);
    // DEL is idempotent.
    p.call(&del).assert_ok_silent();
    assert_store_released(&dd, &name);
}

/// Spec §4 (delegation): an IPAM result has no `interfaces` and its IPs no `interface` index.
fn assert_ipam_shape(v: &Value, out: &testkit::Outcome) {
    assert!(v.get("interfaces").is_none(), "IPAM result with interfaces\n{}", out.describe());
    if let Some(ips) = v.get("ips").and_then(Value::as_array) {
        for ip in ips {
            assert!(ip.get("interface").is_none(), "IPAM ips[] entry with interface\n{}", out.describe());
        }
    }
}

fn assert_store_released(dd: &DataDir, name: &str) {
    let left: Vec<String> = dd.files(name).into_iter().filter(|f| !store::is_bookkeeping(f)).collect();
    assert!(left.is_empty(), "files left after DEL in {}: {left:?}", dd.net_dir(name).display());
}

fn static_cycle(version: &str) {
    let p = Binary::ours("static");
    let name = unique_name("matrix");
    let mut c = conf::static_ipam(
        version,
        &name,
        json!([
            { "address": "10.78.0.5/24", "gateway": "10.78.0.1" },
            { "address": "fd78::5/64", "gateway": "fd78::1" }
        ]),
    );
    c["ipam"]["routes"] = json!([{ "dst": "0.0.0.0/0" }, { "dst": "::/0" }]);
    c["ipam"]["dns"] = json!({ "nameservers": ["10.78.0.53"] });

    let out = p.add(&c, "cid-matrix", "eth0");
    let v = out.assert_ok_json();
    let r = result::parse(version, &v).unwrap_or_else(|e| panic!("{e}\n{}", out.describe()));
    assert_ipam_shape(&v, &out);
    let got: Vec<(String, Option<String>)> =
        r.ips.iter().map(|e| (e.address.to_string(), e.gateway.map(|g| g.to_string()))).collect();
    assert_eq!(
        got,
        vec![
            ("10.78.0.5/24".to_string(), Some("10.78.0.1".to_string())),
            ("fd78::5/64".to_string(), Some("fd78::1".to_string())),
        ],
        "{}",
        out.describe()
    );
    let dsts: Vec<&str> = r.routes.iter().filter_map(|r| r["dst"].as_str()).collect();
    assert!(dsts.contains(&"0.0.0.0/0") && dsts.contains(&"::/0"), "routes {dsts:?}\n{}", out.describe());
    assert_eq!(r.dns.as_ref().map(|d| &d["nameservers"][0]), Some(&json!("10.78.0.53")), "{}", out.describe());

    let follow = followup_conf(version, &c, &v);
    if result::has_check(version) {
        p.call(&Invocation::check().attachment("cid-matrix", "eth0").stdin_json(&follow)).assert_ok_silent();
    }
    let del = Invocation::del().attachment("cid-matrix", "eth0").stdin_json(&follow);
    p.call(&del).assert_ok_silent();
    p.call(&del).assert_ok_silent();
}

macro_rules! matrix {
    ($($test:ident => $ver:literal),* $(,)?) => {
        mod host_local {
            $( #[test] fn $test() { super::host_local_cycle($ver) } )*
        }
        mod static_ipam {
            $( #[test] fn $test() { super::static_cycle($ver) } )*
        }
    };
}

matrix! {
    v0_1_0 => "0.1.0",
    v0_2_0 => "0.2.0",
    v0_3_0 => "0.3.0",
    v0_3_1 => "0.3.1",
    v0_4_0 => "0.4.0",
    v1_0_0 => "1.0.0",
    v1_1_0 => "1.1.0",
}

#[test]
fn version_lists_every_spec_version() {
    for plugin in ["host-local", "static"] {
        let p = Binary::ours(plugin);
        for asked in ALL_VERSIONS {
            let out = p.call(&Invocation::version(asked));
            let v = out.assert_ok_json();
            assert_eq!(v["supportedVersions"], json!(ALL_VERSIONS), "{}", out.describe());
            assert!(v["cniVersion"].is_string(), "VERSION output has a cniVersion\n{}", out.describe());
        }
    }
}

#[test]
fn no_command_prints_about_to_stderr() {
    for plugin in ["host-local", "static"] {
        let p = Binary::ours(plugin);
        let out = p.call(&Invocation::bare().stdin_raw("{}"));
        out.assert_ok();
        assert!(out.stdout.is_empty(), "nothing on stdout\n{}", out.describe());
        assert!(out.stderr_str().lines().any(|l| !l.trim().is_empty()), "a line on stderr\n{}", out.describe());
    }
}

#[test]
fn del_without_netns_succeeds() {
    let p = Binary::ours("host-local");
    let dd = DataDir::new();
    let name = unique_name("nonetns");
    let c = conf::host_local_v4("1.0.0", &name, dd.path(), "10.79.0.0/24");
    p.add(&c, "cid-nonetns", "eth0").assert_ok_json();
    // Spec: CNI_NETNS is optional for DEL; the release must not depend on it.
    p.call(&Invocation::del().attachment("cid-nonetns", "eth0").unset("CNI_NETNS").stdin_json(&c)).assert_ok_silent();
    assert_store_released(&dd, &name);
    let s = Binary::ours("static");
    let sc = conf::static_ipam("1.0.0", &name, json!([{ "address": "10.79.0.5/24" }]));
    s.call(&Invocation::del().unset("CNI_NETNS").stdin_json(&sc)).assert_ok_silent();
}

#[test]
fn del_and_gc_on_unused_data_dir_succeed_without_creating_it() {
    // Spec: DEL must succeed when the resources are already gone.
    let p = Binary::ours("host-local");
    let dd = DataDir::new();
    let missing = dd.path().join("never-created");
    let name = unique_name("unused");
    let c = conf::host_local_v4("1.1.0", &name, &missing, "10.79.1.0/24");
    p.del(&c, "cid-unused", "eth0").assert_ok_silent();
    let mut gc = c.clone();
    gc["cni.dev/valid-attachments"] = json!([]);
    p.call(&Invocation::gc().stdin_json(&gc)).assert_ok_silent();
    let written = dd.state_files();
    assert!(written.is_empty(), "DEL/GC of nothing wrote files: {written:?}");
}
