//! Our host-local and the reference one share a dataDir (cniVersion 1.0.0, the
//! reference's maximum): each must honour the other's reservations and lock.

use serde_json::Value;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::thread;
use testkit::result;
use testkit::rng::Rng;
use testkit::{Binary, DataDir, Invocation, conf, store, unique_name};

const VERSION: &str = "1.0.0";

struct Shared {
    ours: Binary,
    theirs: Binary,
    dd: DataDir,
    name: String,
    conf: Value,
}

impl Shared {
    fn new(subnet: &str) -> Shared {
        let dd = DataDir::new();
        let name = unique_name("interop");
        let conf = conf::host_local_v4(VERSION, &name, dd.path(), subnet);
        Shared { ours: Binary::ours("host-local"), theirs: Binary::reference("host-local"), dd, name, conf }
    }

    fn pick(&self, ours: bool) -> &Binary {
        if ours { &self.ours } else { &self.theirs }
    }

    /// ADD and return the single allocated address.
    fn add(&self, p: &Binary, cid: &str, ifname: &str) -> IpAddr {
        let out = p.add(&self.conf, cid, ifname);
        let v = out.assert_ok_json();
        let r = result::parse(VERSION, &v).unwrap_or_else(|e| panic!("{e}\n{}", out.describe()));
        assert_eq!(r.ips.len(), 1, "{}", out.describe());
        r.ips[0].address.ip()
    }

    fn assert_empty(&self) {
        let left = self.dd.reservations(&self.name);
        assert!(left.is_empty(), "reservations left: {left:?}");
    }
}

#[test]
fn reference_add_then_our_check_and_del() {
    let s = Shared::new("10.93.0.0/24");
    let ip = s.add(&s.theirs, "cid-ref", "eth0");
    assert!(s.dd.reservations(&s.name).contains_key(&ip.to_string()));
    s.ours.check(&s.conf, "cid-ref", "eth0").assert_ok_silent();
    s.ours.del(&s.conf, "cid-ref", "eth0").assert_ok_silent();
    s.assert_empty();
    s.ours.check(&s.conf, "cid-ref", "eth0").assert_error(103);
    // After the release both sides can allocate again.
    s.add(&s.ours, "cid-again", "eth0");
    s.theirs.del(&s.conf, "cid-again", "eth0").assert_ok_silent();
    s.assert_empty();
}

#[test]
fn our_add_then_reference_check_and_del() {
    let s = Shared::new("10.93.1.0/24");
    let ip = s.add(&s.ours, "cid-ours", "eth0");
    let held = s.dd.reservations(&s.name);
    assert_eq!(
        held.get(&ip.to_string()).map(String::as_str),
        Some("cid-ours\r\neth0"),
        "on-disk format is exactly containerID\\r\\nifname: {held:?}"
    );
    s.theirs.check(&s.conf, "cid-ours", "eth0").assert_ok_silent();
    s.theirs.del(&s.conf, "cid-ours", "eth0").assert_ok_silent();
    s.assert_empty();
}

#[test]
fn duplicate_add_across_implementations_fails() {
    let s = Shared::new("10.93.2.0/24");
    s.add(&s.ours, "cid-x", "eth0");
    s.theirs.add(&s.conf, "cid-x", "eth0").assert_some_error();
    s.add(&s.theirs, "cid-y", "eth0");
    s.ours.add(&s.conf, "cid-y", "eth0").assert_error(100);
    // Same container, another interface: a separate attachment, allowed.
    s.add(&s.ours, "cid-y", "net1");
    assert_eq!(s.dd.reservations(&s.name).len(), 3);
    for (cid, ifname) in [("cid-x", "eth0"), ("cid-y", "eth0"), ("cid-y", "net1")] {
        s.ours.del(&s.conf, cid, ifname).assert_ok_silent();
    }
    s.assert_empty();
}

/// Back-to-back foreign changes (often within one kernel clock tick) must be
/// seen by our next operation: a cache of the store must never go stale.
#[test]
fn foreign_changes_are_seen_immediately() {
    let s = Shared::new("10.93.6.0/24");
    for i in 0..15 {
        let cid = format!("cid-tight-{i}");
        // ours ADD → ref DEL → ours must see the release.
        s.add(&s.ours, &cid, "eth0");
        s.theirs.del(&s.conf, &cid, "eth0").assert_ok_silent();
        s.ours.check(&s.conf, &cid, "eth0").assert_error(103);
        // ...and can ADD the same attachment again.
        let ip = s.add(&s.ours, &cid, "eth0");
        // ref DEL → ref ADD of another attachment (may reuse ip) → ours must see the new holder.
        s.theirs.del(&s.conf, &cid, "eth0").assert_ok_silent();
        let other = format!("cid-tight-ref-{i}");
        let ref_ip = s.add(&s.theirs, &other, "eth0");
        s.ours.check(&s.conf, &other, "eth0").assert_ok_silent();
        let ours_ip = s.add(&s.ours, &cid, "eth0");
        assert_ne!(ours_ip, ref_ip, "double allocation after a foreign ADD (earlier ip {ip})");
        s.ours.del(&s.conf, &other, "eth0").assert_ok_silent();
        s.ours.del(&s.conf, &cid, "eth0").assert_ok_silent();
        s.assert_empty();
    }
}

#[test]
fn interleaved_sequential_adds_never_collide() {
    let s = Shared::new("10.93.3.0/24");
    let mut seen: HashMap<IpAddr, String> = HashMap::new();
    for i in 0..24 {
        let cid = format!("cid-seq-{i}");
        let p = s.pick(i % 2 == 0);
        let ip = s.add(p, &cid, "eth0");
        if let Some(prev) = seen.insert(ip, cid.clone()) {
            panic!("{ip} handed out to {prev} and again to {cid} (by {})", p.label());
        }
        // Every third one is released by the other implementation.
        if i % 3 == 2 {
            s.pick(i % 2 == 1).del(&s.conf, &cid, "eth0").assert_ok_silent();
            seen.remove(&ip);
        }
    }
    let on_disk = s.dd.reservations(&s.name);
    assert_eq!(on_disk.len(), seen.len(), "{on_disk:?}");
    for (ip, cid) in &seen {
        assert_eq!(on_disk.get(&ip.to_string()), Some(&store::reservation_content(cid, "eth0")));
        s.ours.del(&s.conf, cid, "eth0").assert_ok_silent();
    }
    s.assert_empty();
}

const THREADS: usize = 4;
const PER_THREAD: usize = 50;

/// Live map: address → attachment. An insert that finds the address taken is a
/// double allocation. Entries are removed *before* the DEL runs so the address
/// can legitimately be re-handed-out right after the release.
type Live = Arc<Mutex<HashMap<IpAddr, String>>>;

/// One thread of mixed load; keeps at most `max_live` attachments before it must DEL one.
fn worker(s: &Shared, live: &Live, t: usize, max_live: usize, seed: u64) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let mut mine: Vec<(String, IpAddr)> = Vec::new();
    let mut next = 0;
    while next < PER_THREAD || !mine.is_empty() {
        let do_add = next < PER_THREAD && (mine.is_empty() || (mine.len() < max_live && rng.coin()));
        if do_add {
            let cid = format!("cid-t{t}-{next}");
            next += 1;
            let p = s.pick(rng.coin());
            let out = p.add(&s.conf, &cid, "eth0");
            let v = out.check_ok_json()?;
            let r = result::parse(VERSION, &v).map_err(|e| format!("{e}\n{}", out.describe()))?;
            let ip = r.ips.first().ok_or("no ip")?.address.ip();
            let mut l = live.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(prev) = l.insert(ip, cid.clone()) {
                return Err(format!("{ip} held by {prev} was handed to {cid} by {}", p.label()));
            }
            drop(l);
            mine.push((cid, ip));
        } else {
            let (cid, ip) = mine.swap_remove(rng.below(mine.len() as u64) as usize);
            live.lock().unwrap_or_else(|e| e.into_inner()).remove(&ip);
            let p = s.pick(rng.coin());
            p.del(&s.conf, &cid, "eth0").check_ok_silent()?;
        }
    }
    Ok(())
}

fn mixed_load(subnet: &str, max_live: usize) {
    let s = Arc::new(Shared::new(subnet));
    let live: Live = Arc::default();
    let (mut rng, seed) = Rng::from_env();
    println!("seed {seed} (rerun with CONFORMANCE_SEED={seed})");
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (s, live, seed) = (Arc::clone(&s), Arc::clone(&live), rng.next_u64());
            thread::spawn(move || worker(&s, &live, t, max_live, seed))
        })
        .collect();
    let errors: Vec<String> = handles
        .into_iter()
        .filter_map(|h| match h.join() {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some("worker panicked".into()),
        })
        .collect();
    assert!(errors.is_empty(), "seed {seed}:\n{}", errors.join("\n---\n"));
    s.assert_empty();
}

#[test]
fn concurrent_mixed_load_never_double_allocates() {
    mixed_load("10.93.4.0/24", 6);
}

/// A /28 has 13 allocatable addresses and at most 4 x 3 = 12 are held at once:
/// addresses are recycled constantly, across both implementations.
#[test]
fn concurrent_mixed_load_in_small_subnet_recycles_safely() {
    mixed_load("10.93.7.0/28", 3);
}

#[test]
fn del_of_unknown_attachment_succeeds_in_shared_store() {
    let s = Shared::new("10.93.5.0/24");
    s.add(&s.theirs, "cid-keep", "eth0");
    s.ours.del(&s.conf, "cid-unknown", "eth0").assert_ok_silent();
    // A DEL for another ifname of the same container must not release eth0.
    s.ours.call(&Invocation::del().attachment("cid-keep", "net1").stdin_json(&s.conf)).assert_ok_silent();
    assert_eq!(s.dd.reservations(&s.name).len(), 1);
    s.theirs.del(&s.conf, "cid-keep", "eth0").assert_ok_silent();
    s.assert_empty();
}

/// The reference's legacy DEL deletes any file below the network directory
/// whose trimmed content equals the container ID, and an IP is a valid
/// container ID: our index files must never match, or our later DEL leaks.
#[test]
fn a_reference_del_by_an_ip_shaped_id_leaves_our_index_alone() {
    let s = Shared::new("10.93.9.0/24");
    let ip = s.add(&s.ours, "cid-a", "eth0");
    // A second ADD moves the round-robin cursor on, so `last_reserved_ip.0`
    // no longer equals the first address and only the index could match.
    s.add(&s.ours, "cid-b", "eth0");
    s.theirs.del(&s.conf, &ip.to_string(), "eth0").assert_ok_silent();
    s.ours.del(&s.conf, "cid-a", "eth0").assert_ok_silent();
    s.ours.del(&s.conf, "cid-b", "eth0").assert_ok_silent();
    s.assert_empty();
}
