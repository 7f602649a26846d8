//! Bad input → the exact CNI error code, a msg naming the culprit, and no state
//! change on disk. One table, run for host-local and/or static; every failing
//! case is collected before the test fails, so one run shows them all.
//!
//! Positive counterparts (case-insensitive keys, IgnoreUnknown) are at the end.

use serde_json::{Value, json};
use std::fmt::Write as _;
use testkit::{Binary, DataDir, Invocation, conf, result, unique_name};

#[derive(Clone, Copy, PartialEq, Debug)]
enum Target {
    HostLocal,
    Static,
}
use Target::{HostLocal, Static};

const BOTH: &[Target] = &[HostLocal, Static];
const HL: &[Target] = &[HostLocal];
const ST: &[Target] = &[Static];

const CID: &str = "cid-bad";

struct Ctx {
    dd: DataDir,
    name: String,
    target: Target,
    plugin: Binary,
}

impl Ctx {
    /// A valid config for the target; cases break one thing in it.
    fn base(&self, version: &str) -> Value {
        match self.target {
            HostLocal => conf::host_local_v4(version, &self.name, self.dd.path(), "10.88.0.0/24"),
            Static => {
                conf::static_ipam(version, &self.name, json!([{ "address": "10.88.0.5/24", "gateway": "10.88.0.1" }]))
            }
        }
    }

    fn v1(&self) -> Value {
        self.base("1.0.0")
    }

    /// host-local config with `ipam.ranges` replaced.
    fn ranges(&self, version: &str, ranges: Value) -> Value {
        conf::host_local(version, &self.name, self.dd.path(), ranges)
    }

    fn dd_str(&self) -> String {
        self.dd.path_str()
    }
}

fn add(c: &Value) -> Invocation {
    Invocation::add().attachment(CID, "eth0").stdin_json(c)
}

fn check(c: &Value) -> Invocation {
    Invocation::check().attachment(CID, "eth0").stdin_json(c)
}

fn del(c: &Value) -> Invocation {
    Invocation::del().attachment(CID, "eth0").stdin_json(c)
}

fn add_env(ctx: &Ctx, var: &str, value: &str) -> Invocation {
    add(&ctx.v1()).set(var, value)
}

fn ifname(ctx: &Ctx, name: &str) -> Invocation {
    add_env(ctx, "CNI_IFNAME", name)
}

fn cid(ctx: &Ctx, id: &str) -> Invocation {
    add_env(ctx, "CNI_CONTAINERID", id)
}

fn args(ctx: &Ctx, a: &str) -> Invocation {
    add(&ctx.v1()).cni_args(a)
}

fn raw(ctx: &Ctx, stdin: &str) -> Invocation {
    let _ = ctx;
    Invocation::add().attachment(CID, "eth0").stdin_raw(stdin)
}

fn hl_ipam(ctx: &Ctx, key: &str, v: Value) -> Invocation {
    add(&conf::with(&ctx.v1(), &format!("ipam.{key}"), v))
}

fn range(ctx: &Ctx, r: Value) -> Invocation {
    add(&ctx.ranges("1.0.0", json!([[r]])))
}

fn noop(_: &Ctx) -> Result<(), String> {
    Ok(())
}

/// Two v4 range sets; the second (a /30) has room for exactly one attachment.
fn dual_small(ctx: &Ctx) -> Value {
    ctx.ranges("1.0.0", json!([[{"subnet": "10.88.0.0/24"}], [{"subnet": "10.87.0.0/30"}]]))
}

/// A prior successful ADD of another attachment, with extra CNI_ARGS.
fn prior_add(ctx: &Ctx, c: &Value, cid: &str, cni_args: &str) -> Result<(), String> {
    let mut inv = Invocation::add().attachment(cid, "eth0").stdin_json(c);
    if !cni_args.is_empty() {
        inv = inv.cni_args(cni_args);
    }
    ctx.plugin.call(&inv).check_ok_json().map(drop).map_err(|e| format!("setup failed: {e}"))
}

struct Case {
    name: &'static str,
    targets: &'static [Target],
    code: u64,
    /// The msg must contain one of these (the offending key/variable); empty = no requirement.
    names: &'static [&'static str],
    setup: fn(&Ctx) -> Result<(), String>,
    input: fn(&Ctx) -> Invocation,
}

const fn case(
    name: &'static str,
    targets: &'static [Target],
    code: u64,
    names: &'static [&'static str],
    input: fn(&Ctx) -> Invocation,
) -> Case {
    Case { name, targets, code, names, setup: noop, input }
}

const fn with_setup(mut c: Case, setup: fn(&Ctx) -> Result<(), String>) -> Case {
    c.setup = setup;
    c
}

fn table() -> Vec<Case> {
    vec![
        // 1: incompatible version
        case("cniVersion 0.5.0", BOTH, 1, &["cniVersion"], |c| add(&c.base("0.5.0"))),
        case("cniVersion 2.0.0", BOTH, 1, &["cniVersion"], |c| add(&c.base("2.0.0"))),
        case("CHECK at 0.3.1", BOTH, 1, &["cniVersion", "CHECK"], |c| check(&c.base("0.3.1"))),
        case("GC at 1.0.0", BOTH, 1, &["cniVersion", "GC"], |c| Invocation::gc().stdin_json(&c.v1())),
        case("STATUS at 1.0.0", BOTH, 1, &["cniVersion", "STATUS"], |c| Invocation::status().stdin_json(&c.v1())),
        // 4: environment
        case("ADD without CNI_CONTAINERID", BOTH, 4, &["CNI_CONTAINERID"], |c| add(&c.v1()).unset("CNI_CONTAINERID")),
        case("ADD without CNI_IFNAME", BOTH, 4, &["CNI_IFNAME"], |c| add(&c.v1()).unset("CNI_IFNAME")),
        case("ADD without CNI_NETNS", BOTH, 4, &["CNI_NETNS"], |c| add(&c.v1()).unset("CNI_NETNS")),
        case("CHECK without CNI_NETNS", BOTH, 4, &["CNI_NETNS"], |c| check(&c.v1()).unset("CNI_NETNS")),
        case("CHECK without CNI_CONTAINERID", BOTH, 4, &["CNI_CONTAINERID"], |c| {
            check(&c.v1()).unset("CNI_CONTAINERID")
        }),
        case("DEL without CNI_CONTAINERID", BOTH, 4, &["CNI_CONTAINERID"], |c| del(&c.v1()).unset("CNI_CONTAINERID")),
        case("DEL without CNI_IFNAME", BOTH, 4, &["CNI_IFNAME"], |c| del(&c.v1()).unset("CNI_IFNAME")),
        case("unknown CNI_COMMAND", BOTH, 4, &["CNI_COMMAND"], |c| add(&c.v1()).command("FROB")),
        case("container ID with leading dash", BOTH, 4, &["CNI_CONTAINERID"], |c| cid(c, "-abc")),
        case("container ID with space", BOTH, 4, &["CNI_CONTAINERID"], |c| cid(c, "ab c")),
        case("container ID with path", BOTH, 4, &["CNI_CONTAINERID"], |c| cid(c, "../etc")),
        case("container ID empty", BOTH, 4, &["CNI_CONTAINERID"], |c| cid(c, "")),
        case("ifname empty", BOTH, 4, &["CNI_IFNAME"], |c| ifname(c, "")),
        case("ifname 16 bytes", BOTH, 4, &["CNI_IFNAME"], |c| ifname(c, "eth0123456789abc")),
        case("ifname .", BOTH, 4, &["CNI_IFNAME"], |c| ifname(c, ".")),
        case("ifname ..", BOTH, 4, &["CNI_IFNAME"], |c| ifname(c, "..")),
        case("ifname with /", BOTH, 4, &["CNI_IFNAME"], |c| ifname(c, "eth/0")),
        case("ifname with :", BOTH, 4, &["CNI_IFNAME"], |c| ifname(c, "eth:0")),
        case("ifname with space", BOTH, 4, &["CNI_IFNAME"], |c| ifname(c, "eth 0")),
        case("ifname with tab", BOTH, 4, &["CNI_IFNAME"], |c| ifname(c, "eth\t0")),
        case("CNI_ARGS without =", BOTH, 4, &["CNI_ARGS"], |c| args(c, "FOO")),
        case("CNI_ARGS unknown key", BOTH, 4, &["FOO"], |c| args(c, "FOO=bar")),
        case("CNI_ARGS IP not an IP", BOTH, 4, &["IP"], |c| args(c, "IP=notanip")),
        case("CNI_ARGS unknown key, IgnoreUnknown=0", BOTH, 4, &["FOO"], |c| args(c, "IgnoreUnknown=0;FOO=bar")),
        // 6: decoding
        case("stdin not JSON", BOTH, 6, &[], |c| raw(c, "not json")),
        case("stdin empty", BOTH, 6, &[], |c| raw(c, "")),
        case("stdin a JSON array", BOTH, 6, &[], |c| raw(c, "[1,2]")),
        case("stdin a JSON string", BOTH, 6, &[], |c| raw(c, "\"conf\"")),
        case("stdin a JSON number", BOTH, 6, &[], |c| raw(c, "42")),
        // 7: invalid configuration
        case("ranges is a string", HL, 7, &["ranges"], |c| hl_ipam(c, "ranges", json!("x"))),
        case("name is a number", BOTH, 7, &["name"], |c| add(&conf::with(&c.v1(), "name", json!(5)))),
        case("cniVersion is a number", BOTH, 7, &["cniVersion"], |c| add(&conf::with(&c.v1(), "cniVersion", json!(1)))),
        case("dataDir is a number", HL, 7, &["dataDir"], |c| hl_ipam(c, "dataDir", json!(1))),
        case("addresses is a string", ST, 7, &["addresses"], |c| {
            add(&conf::with(&c.v1(), "ipam.addresses", json!("x")))
        }),
        case("name missing", BOTH, 7, &["name"], |c| add(&conf::without(&c.v1(), "name"))),
        case("name ../x", BOTH, 7, &["name"], |c| add(&conf::with(&c.v1(), "name", json!("../x")))),
        case("name .hidden", BOTH, 7, &["name"], |c| add(&conf::with(&c.v1(), "name", json!(".hidden")))),
        case("ipam missing", BOTH, 7, &["ipam"], |c| add(&conf::without(&c.v1(), "ipam"))),
        case("host-local without ranges", HL, 7, &["ranges"], |c| add(&conf::without(&c.v1(), "ipam.ranges"))),
        case("host-local ranges empty", HL, 7, &["ranges"], |c| hl_ipam(c, "ranges", json!([]))),
        case("subnet with host bits", HL, 7, &["subnet"], |c| range(c, json!({"subnet": "10.88.0.3/24"}))),
        case("subnet /31", HL, 7, &["subnet"], |c| range(c, json!({"subnet": "10.88.0.0/31"}))),
        case("subnet /32", HL, 7, &["subnet"], |c| range(c, json!({"subnet": "10.88.0.0/32"}))),
        case("subnet not a CIDR", HL, 7, &["subnet"], |c| range(c, json!({"subnet": "10.88.0.0"}))),
        case("rangeStart outside subnet", HL, 7, &["rangeStart"], |c| {
            range(c, json!({"subnet": "10.88.0.0/24", "rangeStart": "10.88.1.10"}))
        }),
        case("rangeEnd outside subnet", HL, 7, &["rangeEnd"], |c| {
            range(c, json!({"subnet": "10.88.0.0/24", "rangeEnd": "10.89.0.10"}))
        }),
        case("overlapping range sets", HL, 7, &["ranges"], |c| {
            add(&c.ranges("1.0.0", json!([[{"subnet": "10.88.0.0/24"}], [{"subnet": "10.88.0.0/25"}]])))
        }),
        case("mixed families in a range set", HL, 7, &["ranges", "subnet"], |c| {
            add(&c.ranges("1.0.0", json!([[{"subnet": "10.88.0.0/24"}, {"subnet": "fd88::/64"}]])))
        }),
        case("host-local invalid gateway", HL, 7, &["gateway"], |c| {
            range(c, json!({"subnet": "10.88.0.0/24", "gateway": "10.88.0.300"}))
        }),
        case("two v4 range sets at 0.2.0", HL, 7, &["ranges", "cniVersion"], |c| {
            add(&c.ranges("0.2.0", json!([[{"subnet": "10.88.0.0/24"}], [{"subnet": "10.89.0.0/24"}]])))
        }),
        case("requested IP outside every range", HL, 7, &["ips", "10.99.0.5"], |c| {
            add(&conf::with(&c.v1(), "runtimeConfig", json!({"ips": ["10.99.0.5/24"]})))
        }),
        case("resolvConf unreadable", HL, 7, &["resolvConf"], |c| {
            hl_ipam(c, "resolvConf", json!(format!("{}/no-such-resolv.conf", c.dd_str())))
        }),
        case("static without addresses", ST, 7, &["addresses"], |c| add(&conf::without(&c.v1(), "ipam.addresses"))),
        case("static address without prefix", ST, 7, &["address"], |c| {
            add(&conf::with(&c.v1(), "ipam.addresses", json!([{"address": "10.88.0.5"}])))
        }),
        case("static invalid gateway", ST, 7, &["gateway"], |c| {
            add(&conf::with(&c.v1(), "ipam.addresses", json!([{"address": "10.88.0.5/24", "gateway": "10.88.0.x"}])))
        }),
        // 100+: allocator state
        with_setup(case("duplicate ADD of (cid, ifname)", HL, 100, &[], |c| add(&c.v1())), |c| {
            prior_add(c, &c.v1(), CID, "")
        }),
        with_setup(
            // A /30 has .1 and .2; .1 is the gateway, so one allocation fits.
            case("range exhausted", HL, 101, &[], |c| add(&c.ranges("1.0.0", json!([[{"subnet": "10.88.0.0/30"}]])))),
            |c| prior_add(c, &c.ranges("1.0.0", json!([[{"subnet": "10.88.0.0/30"}]])), "cid-first", ""),
        ),
        with_setup(
            case("requested IP already reserved", HL, 102, &[], |c| {
                add(&conf::with(&c.v1(), "runtimeConfig", json!({"ips": ["10.88.0.50/24"]})))
            }),
            |c| prior_add(c, &c.v1(), "cid-first", "IP=10.88.0.50"),
        ),
        case("requested IP is the gateway", HL, 102, &[], |c| args(c, "IP=10.88.0.1")),
        case("requested IP in subnet, outside rangeStart..rangeEnd", HL, 7, &["ips", "IP", "10.88.0.200"], |c| {
            let r = c.ranges("1.0.0", json!([[{"subnet": "10.88.0.0/24", "rangeEnd": "10.88.0.100"}]]));
            add(&r).cni_args("IP=10.88.0.200")
        }),
        case("requested IP is the broadcast address", HL, 7, &["ips", "IP", "10.88.0.255"], |c| {
            args(c, "IP=10.88.0.255")
        }),
        with_setup(
            // The v4 address taken from the first range set must be rolled back.
            case("second range set exhausted", HL, 101, &[], |c| add(&dual_small(c))),
            |c| prior_add(c, &dual_small(c), "cid-first", ""),
        ),
        with_setup(
            case("requested IP taken in second range set", HL, 102, &[], |c| {
                add(&conf::with(&dual_small(c), "runtimeConfig", json!({"ips": ["10.88.0.77", "10.87.0.2"]})))
            }),
            |c| {
                let r = conf::with(&dual_small(c), "runtimeConfig", json!({"ips": ["10.88.0.70", "10.87.0.2"]}));
                prior_add(c, &r, "cid-first", "")
            },
        ),
        case("CHECK without reservation", HL, 103, &[], |c| check(&c.v1())),
        // 5: I/O
        case("dataDir is a regular file", HL, 5, &["dataDir"], |c| {
            let f = c.dd.path().join("plain-file");
            std::fs::write(&f, "keep").expect("write file");
            hl_ipam(c, "dataDir", json!(f.display().to_string()))
        }),
        // dataDir itself may be a symlink (admins relocate it); nothing below it is followed.
        case("network directory is a symlink", HL, 5, &["dataDir"], |c| {
            let real = c.dd.path().join("elsewhere");
            std::fs::create_dir(&real).expect("mkdir");
            std::os::unix::fs::symlink(&real, c.dd.path().join(&c.name)).expect("symlink");
            add(&c.v1())
        }),
    ]
}

fn run_case(case: &Case, target: Target) -> Result<(), String> {
    let plugin = Binary::ours(match target {
        HostLocal => "host-local",
        Static => "static",
    });
    let ctx = Ctx { dd: DataDir::new(), name: unique_name("bad"), target, plugin };
    (case.setup)(&ctx)?;
    let inv = (case.input)(&ctx);
    let before = ctx.dd.state_files();
    let out = ctx.plugin.call(&inv);
    out.check_error_naming(case.code, case.names)?;
    let after = ctx.dd.state_files();
    if before != after {
        return Err(format!("state changed on disk: before {before:?}, after {after:?}\n{}", out.describe()));
    }
    Ok(())
}

#[test]
fn bad_input_table() {
    let cases = table();
    let runs: usize = cases.iter().map(|c| c.targets.len()).sum();
    assert!(cases.len() >= 30, "the contract asks for at least 30 cases");
    // Control: the unbroken base config works, so each case fails for its own reason.
    for target in [HostLocal, Static] {
        let plugin = Binary::ours(if target == HostLocal { "host-local" } else { "static" });
        let ctx = Ctx { dd: DataDir::new(), name: unique_name("control"), target, plugin };
        let added = ctx.plugin.call(&add(&ctx.v1())).assert_ok_json();
        let follow = conf::with_prev_result(&ctx.v1(), &added);
        ctx.plugin.call(&check(&follow)).assert_ok_silent();
        ctx.plugin.call(&del(&follow)).assert_ok_silent();
    }
    let mut failures = String::new();
    let mut failed = 0;
    for case in &cases {
        for &target in case.targets {
            if let Err(e) = run_case(case, target) {
                failed += 1;
                let _ = writeln!(failures, "\n### [{target:?}] {} (want code {})\n{e}", case.name, case.code);
            }
        }
    }
    assert!(failed == 0, "{failed} of {runs} bad-input runs failed:{failures}");
}

// ---- positive counterparts -------------------------------------------------

/// ADD of `c` (attachment `cid-case`/`eth0`), which must succeed: its 1.0.0
/// result, and the run described for failure messages.
#[track_caller]
fn add_ok(p: &Binary, c: &Value) -> (result::ParsedResult, String) {
    let out = p.add(c, "cid-case", "eth0");
    let r = result::parse("1.0.0", &out.assert_ok_json()).unwrap_or_else(|e| panic!("{e}\n{}", out.describe()));
    (r, out.describe())
}

#[test]
fn config_keys_are_case_insensitive_host_local() {
    let p = Binary::ours("host-local");
    let dd = DataDir::new();
    let name = unique_name("case");
    let c = json!({
        "CNIVERSION": "1.0.0",
        "name": name,
        "IPAM": {
            "type": "host-local",
            "DATADIR": dd.path_str(),
            "Ranges": [[{ "subnet": "10.89.0.0/24", "rangestart": "10.89.0.10" }]]
        }
    });
    let (r, run) = add_ok(&p, &c);
    assert_eq!(r.ips.len(), 1, "{run}");
    assert_eq!(r.ips[0].address.to_string(), "10.89.0.10/24", "rangestart honoured\n{run}");
    assert!(dd.reservations(&name).contains_key("10.89.0.10"), "DATADIR honoured: {:?}", dd.all_entries());
    p.del(&c, "cid-case", "eth0").assert_ok_silent();
    assert!(dd.reservations(&name).is_empty());
}

#[test]
fn config_keys_are_case_insensitive_more_spellings() {
    let p = Binary::ours("host-local");
    let dd = DataDir::new();
    let name = unique_name("case");
    let c = json!({
        "cniversion": "1.0.0",
        "Name": name,
        "ipam": {
            "Type": "host-local",
            "dataDir": dd.path_str(),
            "RANGES": [[{ "Subnet": "10.89.1.0/24", "RangeStart": "10.89.1.20", "RANGEEND": "10.89.1.20", "GateWay": "10.89.1.254" }]]
        }
    });
    let (r, run) = add_ok(&p, &c);
    assert_eq!(r.ips[0].address.to_string(), "10.89.1.20/24", "{run}");
    assert_eq!(r.ips[0].gateway.map(|g| g.to_string()).as_deref(), Some("10.89.1.254"), "{run}");
    p.del(&c, "cid-case", "eth0").assert_ok_silent();

    let s = Binary::ours("static");
    let sc = json!({
        "cniVersion": "1.0.0",
        "name": name,
        "IPAM": { "type": "static", "Addresses": [{ "ADDRESS": "10.89.2.5/24", "Gateway": "10.89.2.1" }] }
    });
    let (r, run) = add_ok(&s, &sc);
    assert_eq!(r.ips[0].address.to_string(), "10.89.2.5/24", "{run}");
    assert_eq!(r.ips[0].gateway.map(|g| g.to_string()).as_deref(), Some("10.89.2.1"), "{run}");
}

#[test]
fn cni_args_unknown_keys_accepted_with_ignore_unknown() {
    for (plugin, version) in [("host-local", "1.0.0"), ("static", "1.0.0")] {
        let p = Binary::ours(plugin);
        for (i, a) in ["IgnoreUnknown=1;FOO=bar", "IgnoreUnknown=true;K8S_POD_NAME=web;K8S_POD_NAMESPACE=default"]
            .iter()
            .enumerate()
        {
            let dd = DataDir::new();
            let name = unique_name("ignore");
            let c = match plugin {
                "host-local" => conf::host_local_v4(version, &name, dd.path(), "10.90.0.0/24"),
                _ => conf::static_ipam(version, &name, json!([{ "address": "10.90.0.5/24" }])),
            };
            let cid = format!("cid-ignore-{i}");
            let out = p.call(&Invocation::add().attachment(&cid, "eth0").cni_args(a).stdin_json(&c));
            out.assert_ok_json();
            p.call(&Invocation::del().attachment(&cid, "eth0").cni_args(a).stdin_json(&c)).assert_ok_silent();
        }
    }
}

#[test]
fn boundary_values_are_accepted() {
    // 15-byte ifname, container IDs using the allowed punctuation, empty CNI_ARGS.
    for (cid, ifname, cni_args) in
        [("a_b.c-d", "eth012345678901", ""), ("0", "e", "IgnoreUnknown=1"), ("Z9", "net.1", "")]
    {
        for plugin in ["host-local", "static"] {
            let p = Binary::ours(plugin);
            let dd = DataDir::new();
            let name = unique_name("edge");
            let c = match plugin {
                "host-local" => conf::host_local_v4("1.0.0", &name, dd.path(), "10.90.1.0/24"),
                _ => conf::static_ipam("1.0.0", &name, json!([{ "address": "10.90.1.5/24" }])),
            };
            let env = |i: Invocation| i.attachment(cid, ifname).cni_args(cni_args);
            let added = p.call(&env(Invocation::add()).stdin_json(&c)).assert_ok_json();
            let follow = conf::with_prev_result(&c, &added);
            p.call(&env(Invocation::check()).stdin_json(&follow)).assert_ok_silent();
            p.call(&env(Invocation::del()).stdin_json(&follow)).assert_ok_silent();
            assert!(dd.reservations(&name).is_empty(), "{plugin} {cid}/{ifname}: released");
        }
    }
}
