//! The whole store read once and sorted by kind of key (see `crate::keys`).
//! The admin commands work on this picture and re-check what they change
//! with compare-and-swap, so a picture gone stale costs a skipped key,
//! never a wrong delete.

use crate::alloc::{Entry, Record, SliceOwner};
use crate::keys::PREFIX;
use crate::pool::Definition;
use crate::store::{Kv, Store, StoreError};
use cni::net::{from_u128, to_u128};
use ipnetwork::IpNetwork;
use std::collections::BTreeMap;

pub struct SliceKey {
    pub net: String,
    pub pool: String,
    /// As written in the key; `index` is its number.
    pub raw_index: String,
    pub index: Option<u64>,
    pub owner: Option<String>,
    pub kv: Kv,
}

pub struct RecordKey {
    pub net: String,
    pub pool: String,
    pub slice: Option<u64>,
    pub ip: String,
    pub record: Option<Record>,
    pub kv: Kv,
}

pub struct EntryKey {
    pub node: String,
    pub net: String,
    pub container_id: String,
    pub ifname: String,
    pub pool: String,
    pub entry: Option<Entry>,
    pub kv: Kv,
}

#[derive(Default)]
pub struct Snapshot {
    pub definitions: BTreeMap<String, (Option<Definition>, Kv)>,
    pub slices: Vec<SliceKey>,
    pub records: Vec<RecordKey>,
    pub entries: Vec<EntryKey>,
    /// Overlap keys: (key, the record copy they hold).
    pub overlaps: Vec<(Option<Record>, Kv)>,
    pub heartbeats: BTreeMap<String, Kv>,
    pub alive: BTreeMap<String, Kv>,
    /// Keys under the prefix this version does not write.
    pub unknown: Vec<Kv>,
}

fn json<T: serde::de::DeserializeOwned>(kv: &Kv) -> Option<T> {
    serde_json::from_slice(&kv.value).ok()
}

pub fn read(store: &mut impl Store) -> Result<Snapshot, StoreError> {
    let mut s = Snapshot::default();
    for kv in store.list_all(PREFIX)? {
        let rest = kv.key.strip_prefix(PREFIX).unwrap_or_default().to_string();
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            ["nets", net, "definition"] => {
                s.definitions.insert(net.to_string(), (json(&kv), kv));
            }
            ["nets", net, "pools", pool, "slices", index] => s.slices.push(SliceKey {
                net: net.to_string(),
                pool: pool.to_string(),
                raw_index: index.to_string(),
                index: index.parse().ok(),
                owner: serde_json::from_slice::<SliceOwner>(&kv.value).ok().map(|o| o.node),
                kv,
            }),
            ["nets", net, "pools", pool, "addrs", slice, ip] => s.records.push(RecordKey {
                net: net.to_string(),
                pool: pool.to_string(),
                slice: slice.parse().ok(),
                ip: ip.to_string(),
                record: json(&kv),
                kv,
            }),
            ["nodes", node, "att", net, cid, ifname, pool] => s.entries.push(EntryKey {
                node: node.to_string(),
                net: net.to_string(),
                container_id: cid.to_string(),
                ifname: ifname.to_string(),
                pool: pool.to_string(),
                entry: json(&kv),
                kv,
            }),
            ["overlap", _, _] => s.overlaps.push((json(&kv), kv)),
            ["heartbeat", node] => {
                s.heartbeats.insert(node.to_string(), kv);
            }
            ["alive", node] => {
                s.alive.insert(node.to_string(), kv);
            }
            _ => s.unknown.push(kv),
        }
    }
    Ok(s)
}

impl Snapshot {
    /// The subnet of slice `index` of pool `pool` (its key, `10.0.0.0_16`) of network `net`.
    pub fn slice_net(&self, net: &str, pool: &str, index: u64) -> Option<IpNetwork> {
        let (Some(def), _) = self.definitions.get(net)? else { return None };
        let range = def.ranges.iter().find(|r| r.range.replace('/', "_") == pool)?;
        let cidr: IpNetwork = range.range.parse().ok()?;
        let prefix: u8 = range.node_slice_size.trim_start_matches('/').parse().ok()?;
        let bits: u32 = if cidr.is_ipv4() { 32 } else { 128 };
        let size = 1u128.checked_shl(bits.checked_sub(u32::from(prefix))?)?;
        let base = to_u128(cidr.network()).checked_add(u128::from(index).checked_mul(size)?)?;
        IpNetwork::new(from_u128(base, cidr.ip()), prefix).ok().filter(|n| cidr.contains(n.network()))
    }

    /// Whether the node's heartbeat lease holds (None: it never ran one).
    pub fn alive(&self, node: &str) -> Option<bool> {
        self.heartbeats.contains_key(node).then(|| self.alive.contains_key(node))
    }
}
