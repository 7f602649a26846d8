//! Freeing allocations from outside the node: `release-node` and `gc`.
//! Each allocation goes in one transaction (its record, its node's index
//! entry, its overlap key), and only if every key is still the one written
//! with it (same create revision): an address someone got since is kept.

use super::scan::{RecordKey, Snapshot};
use crate::Error;
use crate::keys;
use crate::store::{Cond, Kv, Op, Outcome, Store, Txn};
use serde::Serialize;
use std::collections::HashSet;

#[derive(Debug, Default, Serialize)]
pub struct Freed {
    /// Addresses freed, as `network ip`.
    pub allocations: Vec<String>,
    /// Slice keys deleted.
    pub slices: Vec<String>,
    /// Other keys deleted (leftover index entries, overlap keys, heartbeat).
    pub other: Vec<String>,
    /// Kept, with the reason.
    pub kept: Vec<String>,
}

/// One allocation: true if it was freed, false if it changed under us.
fn free_record(store: &mut impl Store, s: &Snapshot, r: &RecordKey) -> Result<bool, Error> {
    let rev = r.kv.create_revision;
    let mut when = vec![Cond::CreatedAt(r.kv.key.clone(), rev)];
    let mut then = vec![Op::Delete(r.kv.key.clone())];
    // Written in the same transaction as the record: same create revision.
    for e in s.entries.iter().filter(|e| e.kv.create_revision == rev) {
        if e.entry.as_ref().is_some_and(|en| en.addr_key == r.kv.key) {
            when.push(Cond::CreatedAt(e.kv.key.clone(), rev));
            then.push(Op::Delete(e.kv.key.clone()));
        }
    }
    for (_, kv) in s.overlaps.iter().filter(|(_, kv)| kv.create_revision == rev) {
        if kv.key.rsplit('/').next() == Some(r.ip.as_str()) {
            when.push(Cond::CreatedAt(kv.key.clone(), rev));
            then.push(Op::Delete(kv.key.clone()));
        }
    }
    Ok(matches!(store.txn(Txn { when, then, read_on_failure: vec![] })?, Outcome::Committed(_)))
}

fn delete_if_unchanged(store: &mut impl Store, kv: &Kv, extra: Vec<Cond>) -> Result<bool, Error> {
    let mut when = vec![Cond::ModifiedAt(kv.key.clone(), kv.mod_revision)];
    when.extend(extra);
    let txn = Txn { when, then: vec![Op::Delete(kv.key.clone())], read_on_failure: vec![] };
    Ok(matches!(store.txn(txn)?, Outcome::Committed(_)))
}

fn describe(r: &RecordKey) -> String {
    format!("{} {}", r.net, r.ip)
}

/// Everything of `node`: its allocations (borrowed ones in other nodes'
/// slices too), its index entries, its slices, its heartbeat. A slice of
/// the node that still holds another node's borrowed address is kept.
pub fn release_node(store: &mut impl Store, node: &str, force: bool) -> Result<Freed, Error> {
    let s = super::scan::read(store)?;
    if s.alive(node) == Some(true) && !force {
        return Err(Error::config(
            "release-node",
            format!("node {node} is alive (its heartbeat lease holds): stop it first, or pass --force"),
        ));
    }
    let mut out = Freed::default();
    for r in s.records.iter().filter(|r| r.record.as_ref().is_some_and(|rec| rec.node == node)) {
        if free_record(store, &s, r)? {
            out.allocations.push(describe(r));
        } else {
            out.kept.push(format!("{}: changed while releasing", r.kv.key));
        }
    }
    // What is left of the node: keys whose record was not this node's, or gone.
    let s = super::scan::read(store)?;
    let node_prefix = keys::node(node);
    let mut leftovers: Vec<&Kv> =
        s.entries.iter().map(|e| &e.kv).filter(|kv| kv.key.starts_with(&node_prefix)).collect();
    leftovers.extend(s.overlaps.iter().filter(|(r, _)| r.as_ref().is_some_and(|r| r.node == node)).map(|(_, kv)| kv));
    leftovers.extend(s.heartbeats.get(node));
    leftovers.extend(s.alive.get(node));
    for kv in leftovers {
        if delete_if_unchanged(store, kv, vec![])? {
            out.other.push(kv.key.clone());
        }
    }
    for sl in s.slices.iter().filter(|sl| sl.owner.as_deref() == Some(node)) {
        let Some(index) = sl.index else { continue };
        let addrs = keys::slice_addrs(&sl.net, &sl.pool, index);
        if delete_if_unchanged(store, &sl.kv, vec![Cond::NoneUnder(addrs)])? {
            out.slices.push(sl.kv.key.clone());
        } else {
            out.kept.push(format!("{}: holds another node's address", sl.kv.key));
        }
    }
    Ok(out)
}

/// The live list: container IDs and `namespace/name` pods, one a line.
pub fn parse_live(text: &str) -> HashSet<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect()
}

/// Free every allocation (of `node`, if given) whose container and pod are both absent from `live`.
pub fn gc(store: &mut impl Store, live: &HashSet<String>, node: Option<&str>) -> Result<Freed, Error> {
    let s = super::scan::read(store)?;
    let mut out = Freed::default();
    for r in &s.records {
        let Some(rec) = &r.record else { continue };
        if node.is_some_and(|n| n != rec.node) {
            continue;
        }
        let pod = format!("{}/{}", rec.pod_namespace, rec.pod_name);
        if live.contains(&rec.container_id) || live.contains(&pod) {
            continue;
        }
        if free_record(store, &s, r)? {
            out.allocations.push(describe(r));
        } else {
            out.kept.push(format!("{}: changed while collecting", r.kv.key));
        }
    }
    Ok(out)
}
