//! Differential tests: the same sequence of operations run against ours and the
//! reference host-local (each in its own dataDir) must hand out the same
//! addresses in the same order and fail at the same steps. This pins the
//! allocation policy (round-robin after `last_reserved_ip`, gateway skipped,
//! multi-subnet range sets, wrap-around) and legacy-file handling.

use serde_json::{Value, json};
use std::path::Path;
use testkit::{Binary, DataDir, conf, result, unique_name};

const VERSION: &str = "1.0.0";

#[derive(Clone, Copy)]
enum Op {
    Add(&'static str),
    Del(&'static str),
    Check(&'static str),
}

/// What a step observably did: the addresses for a successful ADD, "ok", or "error".
fn step(p: &Binary, c: &Value, op: Op) -> String {
    let (out, is_add) = match op {
        Op::Add(cid) => (p.add(c, cid, "eth0"), true),
        Op::Del(cid) => (p.del(c, cid, "eth0"), false),
        Op::Check(cid) => (p.check(c, cid, "eth0"), false),
    };
    assert!(!out.panicked(), "{}", out.describe());
    if !out.success() {
        return "error".into();
    }
    if !is_add {
        return "ok".into();
    }
    let v = out.assert_ok_json();
    let r = result::parse(VERSION, &v).unwrap_or_else(|e| panic!("{e}\n{}", out.describe()));
    let mut a: Vec<String> = r.ips.iter().map(|e| e.address.to_string()).collect();
    a.sort();
    a.join(",")
}

/// Runs `ops` on both implementations; `prepare` may seed the fresh network dir.
fn same_as_reference(ranges: Value, ops: &[Op], prepare: fn(&Path)) {
    let mut trace = Vec::new();
    for p in [Binary::reference("host-local"), Binary::ours("host-local")] {
        let dd = DataDir::new();
        let name = unique_name("diff");
        std::fs::create_dir_all(dd.net_dir(&name)).expect("mkdir");
        prepare(&dd.net_dir(&name));
        let c = conf::host_local(VERSION, &name, dd.path(), ranges.clone());
        let steps: Vec<String> = ops.iter().map(|&op| step(&p, &c, op)).collect();
        let mut left: Vec<String> = dd.reservations(&name).into_keys().collect();
        left.sort();
        trace.push((steps, left));
    }
    let (theirs, ours) = (&trace[0], &trace[1]);
    for (i, (t, o)) in theirs.0.iter().zip(&ours.0).enumerate() {
        let op = match ops[i] {
            Op::Add(c) => format!("ADD {c}"),
            Op::Del(c) => format!("DEL {c}"),
            Op::Check(c) => format!("CHECK {c}"),
        };
        assert_eq!(
            o, t,
            "step {i} ({op}): ours vs reference\nreference trace: {:?}\nour trace: {:?}",
            theirs.0, ours.0
        );
    }
    assert_eq!(ours.1, theirs.1, "reservations left at the end");
}

fn nothing(_: &Path) {}

use Op::{Add, Check, Del};

#[test]
fn round_robin_and_exhaustion_match() {
    // /29 with gateway .1: .2-.6 allocatable.
    same_as_reference(
        json!([[{ "subnet": "10.96.0.0/29" }]]),
        &[
            Add("a"),
            Add("b"),
            Add("c"),
            Add("d"),
            Del("b"),
            Del("d"),
            Add("e"),
            Add("f"),
            Add("g"),
            Add("h"),
            Del("a"),
            Add("i"),
            Check("i"),
            Check("a"),
        ],
        nothing,
    );
}

#[test]
fn multi_subnet_range_set_and_bounds_match() {
    same_as_reference(
        json!([[
            { "subnet": "10.96.1.0/29", "rangeStart": "10.96.1.3", "rangeEnd": "10.96.1.4" },
            { "subnet": "10.96.2.0/30" }
        ]]),
        &[Add("a"), Add("b"), Add("c"), Add("d"), Del("a"), Add("e"), Add("f")],
        nothing,
    );
}

#[test]
fn explicit_gateway_inside_range_is_skipped_like_reference() {
    same_as_reference(
        json!([[{ "subnet": "10.96.3.0/29", "gateway": "10.96.3.4" }]]),
        &[Add("a"), Add("b"), Add("c"), Add("d"), Add("e"), Add("f")],
        nothing,
    );
}

#[test]
fn dual_stack_matches() {
    same_as_reference(
        json!([
            [{ "subnet": "10.96.4.0/24", "rangeStart": "10.96.4.100" }],
            [{ "subnet": "fd96::/64", "rangeStart": "fd96::10", "rangeEnd": "fd96::12" }]
        ]),
        &[Add("a"), Add("b"), Add("c"), Add("d"), Del("b"), Add("e")],
        nothing,
    );
}

#[test]
fn stale_last_reserved_ip_outside_range_matches() {
    same_as_reference(json!([[{ "subnet": "10.96.5.0/29" }]]), &[Add("a"), Add("b"), Del("a"), Add("c")], |dir| {
        std::fs::write(dir.join("last_reserved_ip.0"), "192.0.2.77").expect("write")
    });
}

#[test]
fn last_reserved_ip_is_resumed_like_reference() {
    same_as_reference(
        json!([[{ "subnet": "10.96.6.0/29" }]]),
        &[Add("a"), Add("b"), Add("c"), Add("d"), Add("e")],
        |dir| std::fs::write(dir.join("last_reserved_ip.0"), "10.96.6.4").expect("write"),
    );
}

#[test]
fn legacy_id_only_reservations_match() {
    // Files written by host-local before 0.8 hold only the container ID.
    same_as_reference(
        json!([[{ "subnet": "10.96.7.0/29" }]]),
        &[Check("old"), Add("old"), Add("new"), Del("old"), Check("old"), Add("old")],
        |dir| std::fs::write(dir.join("10.96.7.3"), "old").expect("write"),
    );
}

#[test]
fn reservation_files_with_trailing_whitespace_match() {
    same_as_reference(
        json!([[{ "subnet": "10.96.8.0/29" }]]),
        &[Check("ws"), Add("ws"), Del("ws"), Check("ws"), Add("ws")],
        |dir| std::fs::write(dir.join("10.96.8.2"), "ws\r\neth0\n").expect("write"),
    );
}
