//! Allocation against a [`Store`]: node-affine slices, one compare-and-swap
//! transaction per claim and per address, no lock held across a verb.
//!
//! The hot path on a warm node is: the slice cache from the node's disk,
//! one range read of the keys of one slice (at most a slice's worth, never
//! the pool), and one transaction that creates the address record only if
//! the address, the attachment and (with overlapping ranges) the overlap key
//! are all absent, the node still owns the slice and the network's stored
//! definition is this config's. Whatever fails, etcd decides; the node
//! only retries.

use crate::config::Config;
use crate::error::Error;
use crate::keys;
use crate::node_state::{NodeState, OwnedSlice};
use crate::pool::{Definition, Pool};
use crate::store::{Cond, Kv, Op, Outcome, Store, Txn};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::net::IpAddr;

/// Who an address is for.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub container_id: String,
    pub ifname: String,
    pub pod_namespace: String,
    pub pod_name: String,
}

/// The allocation record, the value at the address key.
#[derive(Debug, Serialize, Deserialize)]
pub struct Record {
    pub container_id: String,
    pub ifname: String,
    pub node: String,
    pub pod_namespace: String,
    pub pod_name: String,
    pub slice: u64,
    /// Taken from another node's slice (`allow_borrowing`).
    #[serde(default)]
    pub borrowed: bool,
}

/// The attachment's index entry: what a release deletes, whatever the config says by then.
#[derive(Debug, Serialize, Deserialize)]
pub struct Entry {
    pub ip: IpAddr,
    pub addr_key: String,
    pub overlap_key: Option<String>,
}

/// The value of a slice key.
#[derive(Debug, Serialize, Deserialize)]
pub struct SliceOwner {
    pub node: String,
}

/// Tries per slice before re-reading it: concurrent ADDs start at different
/// addresses (by container ID), so a few conflicts mean the slice is busy.
const TRIES_PER_READ: usize = 8;
/// Re-reads before giving up on a network that keeps changing under us.
const ROUNDS: usize = 64;

enum Try {
    Got(IpAddr),
    Taken,
    SliceLost,
    NoDefinition,
}

pub struct Allocator<'a, S: Store> {
    pub store: &'a mut S,
    pub cfg: &'a Config,
    pub state: &'a NodeState,
    /// Set once a write may have reached etcd: a failed ADD must then be undone.
    pub wrote: bool,
}

impl<S: Store> Allocator<'_, S> {
    fn net(&self) -> &str {
        &self.cfg.network.id
    }

    /// One address per range for `att`; an attachment that already has one gets it back.
    pub fn allocate(&mut self, att: &Attachment) -> Result<Vec<IpAddr>, Error> {
        let mut ips = Vec::new();
        for i in 0..self.cfg.network.pools.len() {
            ips.push(self.allocate_in(i, att)?);
        }
        Ok(ips)
    }

    fn allocate_in(&mut self, pool_index: usize, att: &Attachment) -> Result<IpAddr, Error> {
        let pool = self.cfg.network.pools[pool_index].clone();
        let start = hash(&[&att.container_id, &att.ifname]);
        for _ in 0..ROUNDS {
            let owned = self.state.load(self.net()).pools.get(&pool.key()).cloned().unwrap_or_default();
            let (mut lost, mut again) = (false, false);
            // Newest first: older slices are full or nearly so.
            for slice in owned.iter().rev() {
                match self.allocate_in_slice(&pool, *slice, att, start, false)? {
                    Try::Got(ip) => return Ok(ip),
                    Try::SliceLost => {
                        lost = true;
                        break;
                    }
                    Try::NoDefinition => {
                        self.ensure_definition()?;
                        again = true;
                        break;
                    }
                    Try::Taken => {}
                }
            }
            if lost {
                self.forget_slices(&pool)?;
            }
            if lost || again {
                continue;
            }
            if !self.claim(&pool, owned.len())? {
                return self.borrow(&pool, att, start);
            }
        }
        Err(Error::Unavailable { msg: format!("network {}: too many conflicting writers", self.cfg.network.id) })
    }

    /// Try the free addresses of one slice, starting at a per-attachment offset.
    fn allocate_in_slice(
        &mut self,
        pool: &Pool,
        slice: OwnedSlice,
        att: &Attachment,
        start: u64,
        borrowed: bool,
    ) -> Result<Try, Error> {
        let net = self.net().to_string();
        let candidates = pool.candidates(slice.index, self.cfg.network.mode);
        // Addresses a transaction found taken: by this pool (the next read
        // shows them too) or through an overlapping range's key (no read of
        // this slice shows those).
        let mut refused: HashSet<IpAddr> = HashSet::new();
        for _ in 0..ROUNDS {
            let taken: HashSet<String> = self
                .store
                .list(&keys::slice_addrs(&net, &pool.key(), slice.index), true)?
                .into_iter()
                .filter_map(|kv| kv.key.rsplit('/').next().map(str::to_string))
                .collect();
            let free: Vec<IpAddr> = candidates
                .iter()
                .filter(|ip| !refused.contains(ip) && !taken.contains(&ip.to_string()))
                .copied()
                .collect();
            if free.is_empty() {
                return Ok(Try::Taken);
            }
            let offset = (start % free.len() as u64) as usize;
            for k in 0..free.len().min(TRIES_PER_READ) {
                let ip = free[(offset + k) % free.len()];
                match self.try_address(pool, slice, ip, att, borrowed)? {
                    Try::Taken => refused.insert(ip),
                    other => return Ok(other),
                };
            }
        }
        Ok(Try::Taken)
    }

    /// The one transaction of an allocation.
    fn try_address(
        &mut self,
        pool: &Pool,
        slice: OwnedSlice,
        ip: IpAddr,
        att: &Attachment,
        borrowed: bool,
    ) -> Result<Try, Error> {
        let net = self.net().to_string();
        let def_key = keys::definition(&net);
        let slice_key = keys::slice(&net, &pool.key(), slice.index);
        let addr_key = keys::addr(&net, &pool.key(), slice.index, &ip);
        let att_key =
            format!("{}{}", keys::attachment(&self.cfg.node, &net, &att.container_id, &att.ifname), pool.key());
        let overlap_key = self.cfg.network.overlapping.then(|| keys::overlap(&self.cfg.network.name, &ip));
        let record = Record {
            container_id: att.container_id.clone(),
            ifname: att.ifname.clone(),
            node: self.cfg.node.clone(),
            pod_namespace: att.pod_namespace.clone(),
            pod_name: att.pod_name.clone(),
            slice: slice.index,
            borrowed,
        };
        let entry = Entry { ip, addr_key: addr_key.clone(), overlap_key: overlap_key.clone() };
        let mut txn = Txn {
            when: vec![
                Cond::ValueIs(def_key.clone(), self.cfg.network.definition_bytes()),
                Cond::CreatedAt(slice_key.clone(), slice.revision),
                Cond::Absent(addr_key.clone()),
                Cond::Absent(att_key.clone()),
            ],
            then: vec![Op::Put(addr_key.clone(), json(&record)), Op::Put(att_key.clone(), json(&entry))],
            read_on_failure: vec![def_key, slice_key, att_key.clone()],
        };
        if let Some(k) = &overlap_key {
            txn.when.push(Cond::Absent(k.clone()));
            txn.then.push(Op::Put(k.clone(), json(&record)));
        }
        self.wrote = true;
        let outcome = self.store.txn(txn)?;
        cni::fault::step("cluster-ipam: etcd allocate");
        let reads = match outcome {
            Outcome::Committed(_) => return Ok(Try::Got(ip)),
            Outcome::Failed(reads) => reads,
        };
        if let Some(Some(existing)) = reads.get(2) {
            // This attachment already holds an address here: ADD is idempotent.
            let e: Entry = parse(existing)?;
            return Ok(Try::Got(e.ip));
        }
        match reads.first() {
            Some(None) | None => return Ok(Try::NoDefinition),
            Some(Some(def)) => self.check_definition(def)?,
        }
        match reads.get(1) {
            Some(Some(s)) if s.create_revision == slice.revision => Ok(Try::Taken),
            _ if borrowed => Ok(Try::Taken),
            _ => Ok(Try::SliceLost),
        }
    }

    /// Code 7 naming the first field in which this config differs from the stored network.
    fn check_definition(&self, stored: &Kv) -> Result<(), Error> {
        let mine = self.cfg.network.definition_bytes();
        if stored.value == mine {
            return Ok(());
        }
        let theirs: Definition = serde_json::from_slice(&stored.value)
            .map_err(|e| Error::Corrupt { key: stored.key.clone(), msg: e.to_string() })?;
        let (field, msg) = self.cfg.network.definition().first_difference(&theirs);
        Err(Error::config(field, format!("network {:?}: {msg}", self.cfg.network.id)))
    }

    /// Store the network's definition on first use, or refuse a differing one.
    fn ensure_definition(&mut self) -> Result<(), Error> {
        let key = keys::definition(self.net());
        if let Some(kv) = self.store.get(&key)? {
            return self.check_definition(&kv);
        }
        let txn = Txn {
            when: vec![Cond::Absent(key.clone())],
            then: vec![Op::Put(key.clone(), self.cfg.network.definition_bytes())],
            read_on_failure: vec![key],
        };
        self.wrote = true;
        let outcome = self.store.txn(txn)?;
        cni::fault::step("cluster-ipam: etcd store definition");
        match outcome {
            Outcome::Committed(_) => Ok(()),
            Outcome::Failed(reads) => match reads.first() {
                Some(Some(kv)) => self.check_definition(kv),
                _ => Ok(()),
            },
        }
    }

    /// Drop the pool's cached slices; the next claim re-reads them from etcd.
    fn forget_slices(&mut self, pool: &Pool) -> Result<(), Error> {
        let _lock = self.state.lock(self.net())?;
        let mut cache = self.state.load(self.net());
        cache.pools.remove(&pool.key());
        self.state.store(self.net(), &cache)
    }

    /// Get the node one more slice of `pool`: adopt slices etcd says it owns
    /// that the cache lacks, else claim a free one with one compare-and-swap.
    /// `seen` is how many slices the caller found full. False: none is left.
    fn claim(&mut self, pool: &Pool, seen: usize) -> Result<bool, Error> {
        let net = self.net().to_string();
        let _lock = self.state.lock(&net)?;
        let mut cache = self.state.load(&net);
        let owned = cache.pools.entry(pool.key()).or_default();
        if owned.len() > seen {
            return Ok(true); // another ADD on this node claimed one meanwhile
        }
        self.ensure_definition()?;
        let listed = self.store.list(&keys::slices(&net, &pool.key()), false)?;
        let mut used = HashSet::new();
        let mut adopted = false;
        for kv in &listed {
            let Some(index) = kv.key.rsplit('/').next().and_then(|s| s.parse::<u64>().ok()) else { continue };
            used.insert(index);
            let mine = serde_json::from_slice::<SliceOwner>(&kv.value).is_ok_and(|o| o.node == self.cfg.node);
            if mine && !owned.iter().any(|s| s.index == index) {
                owned.push(OwnedSlice { index, revision: kv.create_revision });
                adopted = true;
            }
        }
        if adopted && owned.len() > seen {
            owned.sort_by_key(|s| s.revision);
            self.state.store(&net, &cache)?;
            return Ok(true);
        }
        let n = pool.slice_count();
        let first = hash(&[&self.cfg.node]) % n;
        let value = json(&SliceOwner { node: self.cfg.node.clone() });
        let def = (keys::definition(&net), self.cfg.network.definition_bytes());
        for i in 0..n {
            let index = (first + i) % n;
            if used.contains(&index) || pool.candidates(index, self.cfg.network.mode).is_empty() {
                continue;
            }
            let key = keys::slice(&net, &pool.key(), index);
            let txn = Txn {
                when: vec![Cond::ValueIs(def.0.clone(), def.1.clone()), Cond::Absent(key.clone())],
                then: vec![Op::Put(key.clone(), value.clone())],
                read_on_failure: vec![def.0.clone(), key.clone()],
            };
            self.wrote = true;
            let outcome = self.store.txn(txn)?;
            cni::fault::step("cluster-ipam: etcd claim slice");
            match outcome {
                Outcome::Committed(revision) => {
                    tracing::debug!(network = %net, pool = %pool.cidr, slice = index, "claimed slice");
                    let owned = cache.pools.entry(pool.key()).or_default();
                    owned.push(OwnedSlice { index, revision });
                    self.state.store(&net, &cache)?;
                    return Ok(true);
                }
                Outcome::Failed(reads) => {
                    if let Some(Some(def)) = reads.first() {
                        self.check_definition(def)?;
                    }
                    // A slice retried after a lost answer may be ours already.
                    if let Some(Some(kv)) = reads.get(1)
                        && serde_json::from_slice::<SliceOwner>(&kv.value).is_ok_and(|o| o.node == self.cfg.node)
                    {
                        let owned = cache.pools.entry(pool.key()).or_default();
                        owned.push(OwnedSlice { index, revision: kv.create_revision });
                        self.state.store(&net, &cache)?;
                        return Ok(true);
                    }
                }
            }
        }
        // Freed slices go back to the scan above on the caller's next round.
        self.reclaim(pool, &listed)
    }

    /// No slice is free: delete an empty slice of a node whose heartbeat
    /// lease has expired, so that the next claim can take it. One
    /// transaction per slice re-checks all of it: the slice unchanged since
    /// read, the owner still without its lease, and no address record in
    /// the slice (a record of the owner, or one borrowed). Slices holding
    /// records stay until `railcni-ipam release-node`. A node that never
    /// ran a heartbeat is never taken for dead.
    fn reclaim(&mut self, pool: &Pool, listed: &[Kv]) -> Result<bool, Error> {
        let net = self.net().to_string();
        let mut dead: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
        for kv in listed {
            let Some(index) = kv.key.rsplit('/').next().and_then(|s| s.parse::<u64>().ok()) else { continue };
            let Ok(owner) = serde_json::from_slice::<SliceOwner>(&kv.value) else { continue };
            if owner.node == self.cfg.node {
                continue;
            }
            let is_dead = match dead.get(&owner.node) {
                Some(d) => *d,
                None => {
                    let d = self.store.get(&keys::heartbeat(&owner.node))?.is_some()
                        && self.store.get(&keys::alive(&owner.node))?.is_none();
                    dead.insert(owner.node.clone(), d);
                    d
                }
            };
            if !is_dead {
                continue;
            }
            let txn = Txn {
                when: vec![
                    Cond::ModifiedAt(kv.key.clone(), kv.mod_revision),
                    Cond::Present(keys::heartbeat(&owner.node)),
                    Cond::Absent(keys::alive(&owner.node)),
                    Cond::NoneUnder(keys::slice_addrs(&net, &pool.key(), index)),
                ],
                then: vec![Op::Delete(kv.key.clone())],
                read_on_failure: vec![],
            };
            self.wrote = true;
            if let Outcome::Committed(_) = self.store.txn(txn)? {
                tracing::info!(network = %net, pool = %pool.cidr, slice = index, from = %owner.node,
                    "reclaimed an empty slice of a node whose heartbeat expired");
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// No slice left: take a free address from another node's slice if the
    /// config allows it, else report exhaustion naming the network.
    fn borrow(&mut self, pool: &Pool, att: &Attachment, start: u64) -> Result<IpAddr, Error> {
        let exhausted = || Error::Exhausted { network: self.cfg.network.id.clone(), range: pool.cidr.to_string() };
        if !self.cfg.allow_borrowing {
            return Err(exhausted());
        }
        let net = self.net().to_string();
        for kv in self.store.list(&keys::slices(&net, &pool.key()), false)? {
            let Some(index) = kv.key.rsplit('/').next().and_then(|s| s.parse::<u64>().ok()) else { continue };
            let slice = OwnedSlice { index, revision: kv.create_revision };
            if let Try::Got(ip) = self.allocate_in_slice(pool, slice, att, start, true)? {
                return Ok(ip);
            }
        }
        Err(exhausted())
    }

    /// Free whatever `container_id`/`ifname` holds in this network on this
    /// node. Each record goes only if it is still the one this attachment
    /// created (same create revision), so a replayed or repeated release
    /// never frees an address someone else got since.
    pub fn release(&mut self, container_id: &str, ifname: &str) -> Result<usize, Error> {
        let prefix = keys::attachment(&self.cfg.node, self.net(), container_id, ifname);
        let entries = self.store.list(&prefix, false)?;
        let mut freed = 0;
        for kv in entries {
            let entry: Entry = parse(&kv)?;
            let mut when = vec![Cond::ModifiedAt(kv.key.clone(), kv.mod_revision)];
            let mut then = vec![Op::Delete(kv.key.clone())];
            when.push(Cond::CreatedAt(entry.addr_key.clone(), kv.create_revision));
            then.push(Op::Delete(entry.addr_key.clone()));
            if let Some(o) = &entry.overlap_key {
                when.push(Cond::CreatedAt(o.clone(), kv.create_revision));
                then.push(Op::Delete(o.clone()));
            }
            let outcome = self.store.txn(Txn { when, then, read_on_failure: vec![] })?;
            cni::fault::step("cluster-ipam: etcd release");
            if let Outcome::Committed(_) = outcome {
                freed += 1;
                continue;
            }
            // The records are gone or belong to someone else: drop only the index entry.
            let only_entry = Txn {
                when: vec![Cond::ModifiedAt(kv.key.clone(), kv.mod_revision)],
                then: vec![Op::Delete(kv.key.clone())],
                read_on_failure: vec![],
            };
            self.store.txn(only_entry)?;
            cni::fault::step("cluster-ipam: etcd release index entry");
        }
        Ok(freed)
    }

    /// CHECK: every range holds a record for the attachment, created with its index entry.
    pub fn check(&mut self, container_id: &str, ifname: &str) -> Result<Vec<IpAddr>, Error> {
        let prefix = keys::attachment(&self.cfg.node, self.net(), container_id, ifname);
        let entries = self.store.list(&prefix, false)?;
        let mut ips = Vec::new();
        for pool in &self.cfg.network.pools {
            let missing = || Error::NotFound {
                what: format!(
                    "network {}: no address in {} for {container_id}/{ifname}",
                    self.cfg.network.id, pool.cidr
                ),
            };
            let kv = entries.iter().find(|kv| kv.key.ends_with(&format!("/{}", pool.key()))).ok_or_else(missing)?;
            let entry: Entry = parse(kv)?;
            match self.store.get(&entry.addr_key)? {
                Some(rec) if rec.create_revision == kv.create_revision => ips.push(entry.ip),
                _ => return Err(missing()),
            }
        }
        Ok(ips)
    }

    /// GC: release this node's attachments of the network that are not in `valid`.
    pub fn collect(&mut self, valid: &HashSet<(String, String)>) -> Result<usize, Error> {
        let prefix = keys::node_attachments(&self.cfg.node, self.net());
        let mut stale = Vec::new();
        for kv in self.store.list(&prefix, true)? {
            let rest = kv.key.strip_prefix(&prefix).unwrap_or_default();
            let mut parts = rest.split('/');
            if let (Some(cid), Some(ifname)) = (parts.next(), parts.next()) {
                let att = (cid.to_string(), ifname.to_string());
                if !valid.contains(&att) && !stale.contains(&att) {
                    stale.push(att);
                }
            }
        }
        for (cid, ifname) in &stale {
            self.release(cid, ifname)?;
        }
        Ok(stale.len())
    }
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

fn parse<T: for<'de> Deserialize<'de>>(kv: &Kv) -> Result<T, Error> {
    serde_json::from_slice(&kv.value).map_err(|e| Error::Corrupt { key: kv.key.clone(), msg: e.to_string() })
}

/// FNV-1a: stable across builds, so a node and an attachment always start their search at the same place.
fn hash(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for p in parts {
        for b in p.bytes().chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h
}
