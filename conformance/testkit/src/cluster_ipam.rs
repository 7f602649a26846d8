//! What the [`CLUSTER_IPAM`] profile needs beyond a lab: the etcd cluster
//! its state lives in, its IPAM object, and what a lab's attachments hold
//! in etcd, read black-box through `etcdctl` and the key layout the README
//! documents (section "cluster-ipam", "How it allocates").
//!
//! The etcd cluster is not the lab's: it is named by [`ENDPOINTS_VAR`]
//! (the suite's test starts one with [`crate::etcd`], a user of the
//! `conformance` command names their own). A lab's networks and node get
//! names unique to the lab, so labs sharing one cluster never see each
//! other's keys.

use crate::lab::Lab;
use crate::profile::{CLUSTER_IPAM, Profile};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// The etcd client URLs, comma-separated.
pub const ENDPOINTS_VAR: &str = "RAILCNI_ETCD_ENDPOINTS";

/// Where cluster-ipam keeps everything in etcd.
const PREFIX: &str = "/railcni/ipam/v1/";

/// True for the cluster-ipam profile.
pub fn is(profile: &Profile) -> bool {
    profile.name == CLUSTER_IPAM.name
}

/// The endpoints [`ENDPOINTS_VAR`] names, or why there are none.
pub fn endpoints() -> Result<Vec<String>, String> {
    let var = std::env::var(ENDPOINTS_VAR).unwrap_or_default();
    let list: Vec<String> = var.split(',').map(str::trim).filter(|e| !e.is_empty()).map(String::from).collect();
    if list.is_empty() {
        return Err(format!(
            "cluster-ipam needs an etcd v3 cluster: set {ENDPOINTS_VAR} to its client URLs, comma-separated"
        ));
    }
    Ok(list)
}

/// `Some(reason)` when `profile` cannot run here at all: cluster-ipam
/// without etcd endpoints. Every check then skips, none passes.
pub fn unavailable(profile: &Profile) -> Option<String> {
    if is(profile) { endpoints().err() } else { None }
}

/// cluster-ipam talks to etcd over the network, so its labs run in the
/// node's namespace, where the cluster is reachable (a lab's private host
/// namespace has only its own loopback).
pub fn runs_in_node_ns(profile: &Profile) -> bool {
    is(profile)
}

/// The node name of `lab`'s plugin runs: unique to the lab.
fn node(lab: &Lab) -> &str {
    &lab.prefix
}

/// The `network_name` of network `net` of `lab`; one prefix per lab.
fn network_name(lab: &Lab, net: usize) -> String {
    format!("{}-{net}", lab.net)
}

/// The node-local `state_dir`: the slice cache and the DEL journal.
fn state_dir(lab: &Lab) -> PathBuf {
    lab.tmp().join("cluster-ipam")
}

/// The `ipam` object of network `net` of `lab`: `subnet` as its range,
/// `routes` returned as given. Node and etcd settings are in the object
/// rather than a settings file, which the keys override anyway.
pub fn ipam(lab: &Lab, net: usize, subnet: &str, routes: Value) -> Value {
    json!({
        "type": CLUSTER_IPAM.name,
        "range": subnet,
        "network_name": network_name(lab, net),
        "node_name": node(lab),
        "etcd_endpoints": endpoints().unwrap_or_default(),
        "state_dir": state_dir(lab),
        "routes": routes,
    })
}

/// `etcdctl get <args>` against [`endpoints`]: its output lines. Panics
/// when etcd cannot be read, so that a footprint never compares two empty
/// answers.
fn etcdctl_get(args: &[&str]) -> Vec<String> {
    let endpoints = endpoints().unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", &endpoints.join(","), "--command-timeout=5s", "get"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run etcdctl (Debian etcd-client): {e}"));
    assert!(out.status.success(), "etcdctl get {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(String::from).collect()
}

/// An etcd key that belongs to an attachment of one of `lab`'s networks:
/// an allocation record, the node's index entry or an overlap key. The
/// network's definition and the node's slice claims stay by design.
fn is_attachments(lab: &Lab, key: &str) -> bool {
    let Some(rest) = key.strip_prefix(PREFIX) else { return false };
    let ours = format!("{}-", lab.net);
    if let Some(net) = rest.strip_prefix("nets/") {
        net.starts_with(&ours) && net.contains("/addrs/")
    } else if let Some(node_key) = rest.strip_prefix("nodes/") {
        node_key.starts_with(&format!("{}/", node(lab)))
    } else if let Some(scoped) = rest.strip_prefix("overlap/") {
        scoped.starts_with(&ours)
    } else {
        false
    }
}

/// What `lab`'s attachments hold that DEL must release, as footprint facts:
/// their keys in etcd, and the files of the node's `state_dir` but the
/// slice cache and the locks, which belong to the node (a leftover
/// journal is a release not yet done).
pub fn leftovers(lab: &Lab) -> Vec<String> {
    let keys = etcdctl_get(&["--prefix", "--keys-only", PREFIX]);
    let mut facts: Vec<String> =
        keys.into_iter().filter(|k| is_attachments(lab, k)).map(|k| format!("etcd key {k}")).collect();
    let node_files = crate::footprint::state_files(&state_dir(lab));
    facts.extend(
        node_files
            .into_iter()
            .filter(|f| !(f.starts_with("slices-") && f.ends_with(".json")))
            .map(|f| format!("cluster-ipam state_dir file {f}")),
    );
    facts
}

/// The allocation records of `lab`'s networks: address → record (JSON
/// naming the container ID), those of container `cid` only if given.
pub fn records(lab: &Lab, cid: Option<&str>) -> BTreeMap<String, String> {
    let keys = etcdctl_get(&["--prefix", "--keys-only", &format!("{PREFIX}nets/{}-", lab.net)]);
    let mut held = BTreeMap::new();
    for key in keys.iter().filter(|k| k.contains("/addrs/")) {
        // One read per record (a lab holds a few): values are never split from their keys.
        let value = etcdctl_get(&["--print-value-only", key]).join("\n");
        let record: Value = serde_json::from_str(&value).unwrap_or_default();
        if cid.is_none_or(|c| record["container_id"] == c) {
            let address = key.rsplit('/').next().unwrap_or(key);
            held.insert(address.to_string(), value);
        }
    }
    held
}
