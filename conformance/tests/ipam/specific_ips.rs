//! Requesting specific addresses: CNI_ARGS `IP`, `args.cni.ips`,
//! `runtimeConfig.ips` (host-local and static), static's precedence rules and
//! ECMP routes.

use serde_json::{Value, json};
use testkit::{Binary, DataDir, Invocation, conf, result, unique_name};

const VERSION: &str = "1.0.0";

/// (address/prefix, gateway) pairs of a successful ADD.
fn add_ips(p: &Binary, inv: &Invocation) -> Vec<(String, Option<String>)> {
    let out = p.call(inv);
    let v = out.assert_ok_json();
    let r = result::parse(VERSION, &v).unwrap_or_else(|e| panic!("{e}\n{}", out.describe()));
    r.ips.iter().map(|e| (e.address.to_string(), e.gateway.map(|g| g.to_string()))).collect()
}

fn addrs(v: Vec<(String, Option<String>)>) -> Vec<String> {
    v.into_iter().map(|(a, _)| a).collect()
}

fn host_local_request(how: &str, c: &Value, ip: &str) -> Invocation {
    let base = Invocation::add().attachment("cid-req", "eth0");
    match how {
        "CNI_ARGS" => base.cni_args(&format!("IP={ip}")).stdin_json(c),
        "args" => base.stdin_json(&conf::with(c, "args", json!({ "cni": { "ips": [ip] } }))),
        "runtimeConfig" => base.stdin_json(&conf::with(c, "runtimeConfig", json!({ "ips": [ip] }))),
        other => panic!("unknown request kind {other}"),
    }
}

#[test]
fn host_local_gives_exactly_the_requested_address() {
    let p = Binary::ours("host-local");
    let cases = [
        ("CNI_ARGS", "10.94.0.50", "10.94.0.50/24"),
        ("args", "10.94.0.51", "10.94.0.51/24"),
        ("args", "10.94.0.52/24", "10.94.0.52/24"),
        ("runtimeConfig", "10.94.0.53/24", "10.94.0.53/24"),
        ("runtimeConfig", "10.94.0.54", "10.94.0.54/24"),
    ];
    for (how, ask, want) in cases {
        let dd = DataDir::new();
        let name = unique_name("req");
        let c = conf::host_local_v4(VERSION, &name, dd.path(), "10.94.0.0/24");
        let got = add_ips(&p, &host_local_request(how, &c, ask));
        assert_eq!(addrs(got), vec![want.to_string()], "request {ask} via {how}");
        let held = dd.reservations(&name);
        let ip = ask.split('/').next().unwrap_or(ask);
        assert_eq!(held.keys().collect::<Vec<_>>(), vec![ip], "reservation for {ask} via {how}");
        p.del(&c, "cid-req", "eth0").assert_ok_silent();
        assert!(dd.reservations(&name).is_empty());
    }
}

#[test]
fn host_local_requests_one_address_per_range_set() {
    let p = Binary::ours("host-local");
    let dd = DataDir::new();
    let name = unique_name("req");
    let c = conf::host_local(
        VERSION,
        &name,
        dd.path(),
        json!([[{ "subnet": "10.94.1.0/24" }], [{ "subnet": "fd94::/64" }]]),
    );
    let inv = Invocation::add().attachment("cid-req", "eth0").stdin_json(&conf::with(
        &c,
        "runtimeConfig",
        json!({ "ips": ["10.94.1.77", "fd94::77/64"] }),
    ));
    let mut got = addrs(add_ips(&p, &inv));
    got.sort();
    assert_eq!(got, vec!["10.94.1.77/24".to_string(), "fd94::77/64".to_string()]);
    p.del(&c, "cid-req", "eth0").assert_ok_silent();
    assert!(dd.reservations(&name).is_empty());
}

fn static_conf() -> Value {
    conf::static_ipam(VERSION, &unique_name("static"), json!([{ "address": "10.95.0.10/24", "gateway": "10.95.0.1" }]))
}

#[test]
fn static_cni_args_append_to_config() {
    let p = Binary::ours("static");
    let inv = Invocation::add().cni_args("IP=10.95.0.20/24,10.95.1.20/24;GATEWAY=10.95.0.1").stdin_json(&static_conf());
    let got = add_ips(&p, &inv);
    assert_eq!(
        got,
        vec![
            ("10.95.0.10/24".into(), Some("10.95.0.1".into())),
            ("10.95.0.20/24".into(), Some("10.95.0.1".into())),
            ("10.95.1.20/24".into(), None),
        ],
        "CNI_ARGS IPs are appended; GATEWAY goes to the address containing it"
    );
}

#[test]
fn static_args_replace_config_and_cni_args() {
    let p = Binary::ours("static");
    let c = conf::with(&static_conf(), "args", json!({ "cni": { "ips": ["10.95.0.30/24"] } }));
    let inv = Invocation::add().cni_args("IP=10.95.0.20/24").stdin_json(&c);
    assert_eq!(addrs(add_ips(&p, &inv)), vec!["10.95.0.30/24".to_string()]);
}

#[test]
fn static_runtime_config_replaces_everything() {
    let p = Binary::ours("static");
    let c = conf::with(&static_conf(), "args", json!({ "cni": { "ips": ["10.95.0.30/24"] } }));
    let c = conf::with(&c, "runtimeConfig", json!({ "ips": ["10.95.0.40/24", "fd95::40/64"] }));
    let inv = Invocation::add().cni_args("IP=10.95.0.20/24").stdin_json(&c);
    assert_eq!(addrs(add_ips(&p, &inv)), vec!["10.95.0.40/24".to_string(), "fd95::40/64".to_string()]);
}

#[test]
fn static_keeps_ecmp_routes() {
    let p = Binary::ours("static");
    let mut c = static_conf();
    c["ipam"]["routes"] = json!([
        { "dst": "0.0.0.0/0", "gw": "10.95.0.1" },
        { "dst": "0.0.0.0/0", "gw": "10.95.0.2" },
        { "dst": "192.0.2.0/24" }
    ]);
    let out = p.add(&c, "cid-ecmp", "eth0");
    let r = result::parse(VERSION, &out.assert_ok_json()).unwrap_or_else(|e| panic!("{e}\n{}", out.describe()));
    let routes: Vec<(String, Option<String>)> = r
        .routes
        .iter()
        .map(|r| (r["dst"].as_str().unwrap_or("").to_string(), r.get("gw").and_then(Value::as_str).map(str::to_string)))
        .collect();
    assert_eq!(
        routes,
        vec![
            ("0.0.0.0/0".into(), Some("10.95.0.1".into())),
            ("0.0.0.0/0".into(), Some("10.95.0.2".into())),
            ("192.0.2.0/24".into(), None),
        ],
        "{}",
        out.describe()
    );
}

/// The usual Multus pattern: `"ipam": {"type": "static"}` with the `ips`
/// capability. "static without addresses" is only an error when no source
/// (config, CNI_ARGS, args, runtimeConfig) yields an address.
#[test]
fn static_without_config_addresses_takes_them_from_runtime() {
    let p = Binary::ours("static");
    let bare = json!({ "cniVersion": VERSION, "name": unique_name("static"), "ipam": { "type": "static" } });
    let rc = conf::with(&bare, "runtimeConfig", json!({ "ips": ["10.95.2.5/24"] }));
    assert_eq!(addrs(add_ips(&p, &Invocation::add().stdin_json(&rc))), vec!["10.95.2.5/24".to_string()]);
    let args = conf::with(&bare, "args", json!({ "cni": { "ips": ["10.95.2.6/24"] } }));
    assert_eq!(addrs(add_ips(&p, &Invocation::add().stdin_json(&args))), vec!["10.95.2.6/24".to_string()]);
    let env = Invocation::add().cni_args("IP=10.95.2.7/24").stdin_json(&bare);
    assert_eq!(addrs(add_ips(&p, &env)), vec!["10.95.2.7/24".to_string()]);
}
