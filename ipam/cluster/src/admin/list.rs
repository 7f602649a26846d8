//! `list`: what the store holds, per network.

use super::scan::Snapshot;
use serde::Serialize;
use std::collections::BTreeSet;

#[derive(Serialize)]
pub struct Listing {
    pub networks: Vec<NetworkView>,
    pub nodes: Vec<NodeView>,
}

#[derive(Serialize)]
pub struct NetworkView {
    pub id: String,
    pub ranges: Vec<String>,
    pub slices: Vec<SliceView>,
    pub allocations: Vec<AllocationView>,
}

#[derive(Serialize)]
pub struct SliceView {
    pub pool: String,
    pub index: String,
    pub subnet: Option<String>,
    pub node: Option<String>,
}

#[derive(Serialize)]
pub struct AllocationView {
    pub ip: String,
    pub node: String,
    pub pod_namespace: String,
    pub pod_name: String,
    pub container_id: String,
    pub ifname: String,
    pub borrowed: bool,
}

#[derive(Serialize)]
pub struct NodeView {
    pub node: String,
    /// None: the node runs no heartbeat.
    pub alive: Option<bool>,
    pub slices: usize,
    pub allocations: usize,
}

pub fn listing(s: &Snapshot) -> Listing {
    let mut ids: BTreeSet<&str> = s.definitions.keys().map(String::as_str).collect();
    ids.extend(s.slices.iter().map(|x| x.net.as_str()));
    ids.extend(s.records.iter().map(|x| x.net.as_str()));
    let networks = ids
        .into_iter()
        .map(|id| NetworkView {
            id: id.to_string(),
            ranges: s
                .definitions
                .get(id)
                .and_then(|(d, _)| d.as_ref())
                .map(|d| d.ranges.iter().map(|r| r.range.clone()).collect())
                .unwrap_or_default(),
            slices: s
                .slices
                .iter()
                .filter(|x| x.net == id)
                .map(|x| SliceView {
                    pool: x.pool.clone(),
                    index: x.raw_index.clone(),
                    subnet: x.index.and_then(|i| s.slice_net(id, &x.pool, i)).map(|n| n.to_string()),
                    node: x.owner.clone(),
                })
                .collect(),
            allocations: s
                .records
                .iter()
                .filter(|x| x.net == id)
                .filter_map(|x| {
                    let r = x.record.as_ref()?;
                    Some(AllocationView {
                        ip: x.ip.clone(),
                        node: r.node.clone(),
                        pod_namespace: r.pod_namespace.clone(),
                        pod_name: r.pod_name.clone(),
                        container_id: r.container_id.clone(),
                        ifname: r.ifname.clone(),
                        borrowed: r.borrowed,
                    })
                })
                .collect(),
        })
        .collect();
    let mut names: BTreeSet<&str> = s.heartbeats.keys().map(String::as_str).collect();
    names.extend(s.slices.iter().filter_map(|x| x.owner.as_deref()));
    names.extend(s.records.iter().filter_map(|x| x.record.as_ref().map(|r| r.node.as_str())));
    let nodes = names
        .into_iter()
        .map(|n| NodeView {
            node: n.to_string(),
            alive: s.alive(n),
            slices: s.slices.iter().filter(|x| x.owner.as_deref() == Some(n)).count(),
            allocations: s.records.iter().filter(|x| x.record.as_ref().is_some_and(|r| r.node == n)).count(),
        })
        .collect();
    Listing { networks, nodes }
}

pub fn print(l: &Listing) {
    for n in &l.networks {
        println!("network {} ({})", n.id, n.ranges.join(", "));
        for s in &n.slices {
            let subnet = s.subnet.as_deref().unwrap_or("?");
            println!("  slice {}/{} {subnet} node {}", s.pool, s.index, s.node.as_deref().unwrap_or("?"));
        }
        for a in &n.allocations {
            let borrowed = if a.borrowed { " (borrowed)" } else { "" };
            println!(
                "  {} node {} pod {}/{} container {} ifname {}{borrowed}",
                a.ip, a.node, a.pod_namespace, a.pod_name, a.container_id, a.ifname
            );
        }
    }
    for n in &l.nodes {
        let state = match n.alive {
            None => "no heartbeat",
            Some(true) => "alive",
            Some(false) => "heartbeat expired",
        };
        println!("node {}: {state}, {} slices, {} allocations", n.node, n.slices, n.allocations);
    }
}
