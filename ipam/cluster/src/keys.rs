//! The key layout in etcd, in one place.
//!
//! ```text
//! /railcni/ipam/v1/nets/<net>/definition                       the network as first stored
//! /railcni/ipam/v1/nets/<net>/pools/<cidr>/slices/<slice>      {"node"}: which node owns the slice
//! /railcni/ipam/v1/nets/<net>/pools/<cidr>/addrs/<slice>/<ip>  the allocation record
//! /railcni/ipam/v1/nodes/<node>/att/<net>/<cid>/<ifname>/<cidr> the attachment's index entry
//! /railcni/ipam/v1/overlap/<network_name or _>/<ip>            across overlapping ranges
//! /railcni/ipam/v1/heartbeat/<node>                            {"grace_seconds"}: the node runs a heartbeat
//! /railcni/ipam/v1/alive/<node>                                under the heartbeat's lease: gone = node dead
//! ```
//! An allocation writes the record, the index entry and (with overlapping
//! ranges) the overlap key in one transaction, so the three share a create
//! revision. Slice numbers are zero-padded so that keys sort like numbers.

pub const PREFIX: &str = "/railcni/ipam/v1/";

pub fn definition(net: &str) -> String {
    format!("{PREFIX}nets/{net}/definition")
}

pub fn slices(net: &str, pool: &str) -> String {
    format!("{PREFIX}nets/{net}/pools/{pool}/slices/")
}

pub fn slice(net: &str, pool: &str, index: u64) -> String {
    format!("{}{index:08}", slices(net, pool))
}

pub fn addrs(net: &str, pool: &str) -> String {
    format!("{PREFIX}nets/{net}/pools/{pool}/addrs/")
}

pub fn slice_addrs(net: &str, pool: &str, index: u64) -> String {
    format!("{}{index:08}/", addrs(net, pool))
}

pub fn addr(net: &str, pool: &str, index: u64, ip: &std::net::IpAddr) -> String {
    format!("{}{ip}", slice_addrs(net, pool, index))
}

pub fn node_attachments(node: &str, net: &str) -> String {
    format!("{PREFIX}nodes/{node}/att/{net}/")
}

pub fn attachment(node: &str, net: &str, cid: &str, ifname: &str) -> String {
    format!("{}{cid}/{ifname}/", node_attachments(node, net))
}

pub fn overlap(network_name: &str, ip: &std::net::IpAddr) -> String {
    let scope = if network_name.is_empty() { "_" } else { network_name };
    format!("{PREFIX}overlap/{scope}/{ip}")
}

/// Written once by the node's heartbeat: only a node that has one can be found dead.
pub fn heartbeat(node: &str) -> String {
    format!("{PREFIX}heartbeat/{node}")
}

/// Held under the heartbeat's lease; its absence (with [`heartbeat`] present) means the node is dead.
pub fn alive(node: &str) -> String {
    format!("{PREFIX}alive/{node}")
}

pub fn node(node: &str) -> String {
    format!("{PREFIX}nodes/{node}/")
}
