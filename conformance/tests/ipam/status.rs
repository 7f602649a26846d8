//! host-local STATUS (cniVersion 1.1.0): success iff an ADD could be served,
//! code 50 when the store cannot be written.

use std::path::Path;
use testkit::rofs::ReadOnlyMount;
use testkit::{Binary, DataDir, Invocation, conf, unique_name};

const VERSION: &str = "1.1.0";

fn status(data_dir: &Path) -> testkit::Outcome {
    let name = unique_name("status");
    let c = conf::host_local_v4(VERSION, &name, data_dir, "10.92.0.0/24");
    Binary::ours("host-local").call(&Invocation::status().stdin_json(&c))
}

#[test]
fn status_ok_on_writable_data_dir() {
    let dd = DataDir::new();
    status(dd.path()).assert_ok_silent();
    // A dataDir that does not exist yet but could be created is fine too.
    status(&dd.path().join("not-yet")).assert_ok_silent();
}

#[test]
fn status_ok_after_adds() {
    let dd = DataDir::new();
    let p = Binary::ours("host-local");
    let name = unique_name("status");
    let c = conf::host_local_v4(VERSION, &name, dd.path(), "10.92.1.0/24");
    p.add(&c, "cid-status", "eth0").assert_ok_json();
    p.call(&Invocation::status().stdin_json(&c)).assert_ok_silent();
}

#[test]
fn status_50_when_parent_is_a_regular_file() {
    let dd = DataDir::new();
    let file = dd.path().join("file");
    std::fs::write(&file, "").expect("write file");
    status(&file.join("data")).assert_error(50);
}

/// Mounting needs root (CI runs as root); elsewhere the test says why it skipped.
fn read_only_mount() -> Option<ReadOnlyMount> {
    match ReadOnlyMount::new() {
        Ok(m) => Some(m),
        Err(e) => {
            println!("SKIPPED: cannot mount a read-only tmpfs: {e}");
            None
        }
    }
}

#[test]
fn status_50_when_data_dir_parent_is_read_only() {
    let Some(ro) = read_only_mount() else { return };
    status(&ro.path().join("data")).assert_error(50);
}

#[test]
fn status_50_when_data_dir_itself_is_read_only() {
    // The network directory cannot be created inside a read-only dataDir.
    let Some(ro) = read_only_mount() else { return };
    status(ro.path()).assert_error(50);
}

#[test]
fn static_status_and_gc_succeed() {
    // static keeps no state: it can always serve ADD, and GC has nothing to release.
    let s = Binary::ours("static");
    let c = conf::static_ipam(VERSION, &unique_name("status"), serde_json::json!([{ "address": "10.92.2.5/24" }]));
    s.call(&Invocation::status().stdin_json(&c)).assert_ok_silent();
    let mut gc = c.clone();
    gc["cni.dev/valid-attachments"] = serde_json::json!([]);
    s.call(&Invocation::gc().stdin_json(&gc)).assert_ok_silent();
}
