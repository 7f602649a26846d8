//! `check`: what must hold in the store, and every place it does not.

use super::scan::Snapshot;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Every finding, one sentence each naming the keys involved.
pub fn findings(s: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    slices_claimed_once(s, &mut out);
    addresses_in_one_record(s, &mut out);
    records_in_owned_slices(s, &mut out);
    records_and_index_entries_agree(s, &mut out);
    for kv in &s.unknown {
        out.push(format!("{}: a key cluster-ipam does not write", kv.key));
    }
    out
}

fn slices_claimed_once(s: &Snapshot, out: &mut Vec<String>) {
    let mut seen: BTreeMap<(&str, &str, u64), &str> = BTreeMap::new();
    for sl in &s.slices {
        let Some(index) = sl.index else {
            out.push(format!("{}: slice number {:?} is not a number", sl.kv.key, sl.raw_index));
            continue;
        };
        if sl.owner.is_none() {
            out.push(format!("{}: no owner node in the value", sl.kv.key));
        }
        if let Some(first) = seen.insert((&sl.net, &sl.pool, index), &sl.kv.key) {
            out.push(format!("slice {index} of {}/{} is claimed twice: {first} and {}", sl.net, sl.pool, sl.kv.key));
        }
    }
}

fn addresses_in_one_record(s: &Snapshot, out: &mut Vec<String>) {
    let mut by_ip: BTreeMap<(&str, IpAddr), Vec<&str>> = BTreeMap::new();
    for r in &s.records {
        match r.ip.parse::<IpAddr>() {
            Ok(ip) => by_ip.entry((&r.net, ip)).or_default().push(&r.kv.key),
            Err(_) => out.push(format!("{}: {:?} is not an address", r.kv.key, r.ip)),
        }
    }
    for ((net, ip), keys) in by_ip {
        if keys.len() > 1 {
            out.push(format!("address {ip} of network {net} is in {} records: {}", keys.len(), keys.join(", ")));
        }
    }
}

fn records_in_owned_slices(s: &Snapshot, out: &mut Vec<String>) {
    for r in &s.records {
        let Some(rec) = &r.record else {
            out.push(format!("{}: not an allocation record", r.kv.key));
            continue;
        };
        let Some(index) = r.slice else {
            out.push(format!("{}: slice number is not a number", r.kv.key));
            continue;
        };
        if rec.slice != index {
            out.push(format!("{}: the record says slice {}, its key slice {index}", r.kv.key, rec.slice));
        }
        match (s.slice_net(&r.net, &r.pool, index), r.ip.parse::<IpAddr>()) {
            (Some(subnet), Ok(ip)) if !subnet.contains(ip) => {
                out.push(format!("{}: {ip} is not inside slice {index} ({subnet})", r.kv.key))
            }
            (None, _) => out.push(format!("{}: network {} has no definition of slice {index}", r.kv.key, r.net)),
            _ => {}
        }
        let owner = s.slices.iter().find(|sl| sl.net == r.net && sl.pool == r.pool && sl.index == Some(index));
        match owner.and_then(|sl| sl.owner.as_deref()) {
            None => out.push(format!("{}: slice {index} is claimed by no node", r.kv.key)),
            Some(node) if node != rec.node && !rec.borrowed => out.push(format!(
                "{}: record of node {} inside slice {index}, which node {node} owns",
                r.kv.key, rec.node
            )),
            Some(_) => {}
        }
    }
}

fn records_and_index_entries_agree(s: &Snapshot, out: &mut Vec<String>) {
    for r in &s.records {
        let Some(rec) = &r.record else { continue };
        let indexed = s.entries.iter().any(|e| {
            e.entry.as_ref().is_some_and(|en| en.addr_key == r.kv.key) && e.kv.create_revision == r.kv.create_revision
        });
        if !indexed {
            out.push(format!(
                "{}: no index entry of node {} for {}/{} points to it",
                r.kv.key, rec.node, rec.container_id, rec.ifname
            ));
        }
    }
    for e in &s.entries {
        let Some(en) = &e.entry else {
            out.push(format!("{}: not an index entry", e.kv.key));
            continue;
        };
        let backed = s.records.iter().any(|r| r.kv.key == en.addr_key && r.kv.create_revision == e.kv.create_revision);
        if !backed {
            out.push(format!("{}: its record {} is gone or someone else's", e.kv.key, en.addr_key));
        }
    }
}
