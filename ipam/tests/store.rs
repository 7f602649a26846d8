//! The store and allocator on a real filesystem: index freshness after
//! foreign writes, symlink refusal, and exclusion between concurrent writers.

use ipam::allocator::allocate;
use ipam::range::{RangeConf, RangeSet, canonicalize_set};
use ipam::store::{Owner, Store};
use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;

fn ranges(subnet: &str) -> Vec<RangeSet> {
    vec![canonicalize_set(&[RangeConf { subnet: subnet.into(), ..RangeConf::default() }], "r").unwrap()]
}

fn add(data: &Path, subnet: &str, id: &str) -> Result<IpAddr, ipam::Error> {
    let store = Store::open(data, "net")?;
    store.refresh_index()?;
    let got = allocate(&store, &ranges(subnet), &[], &Owner::new(id, "eth0"));
    store.seal()?;
    Ok(got?[0].ip)
}

#[test]
fn a_reservation_written_by_someone_else_is_indexed_before_use() {
    let data = tempfile::tempdir().unwrap();
    add(data.path(), "10.5.0.0/24", "ours").unwrap();
    // What the reference binary does: a file named by the IP, content `id\r\nifname`.
    std::fs::write(data.path().join("net/10.5.0.77"), "theirs\r\neth0").unwrap();
    let store = Store::open(data.path(), "net").unwrap();
    store.refresh_index().unwrap();
    let theirs: Vec<IpAddr> = store.held_by(&Owner::new("theirs", "eth0")).unwrap();
    assert_eq!(theirs, ["10.5.0.77".parse::<IpAddr>().unwrap()]);
    drop(store);
    // And the duplicate rule sees it.
    let e = add(data.path(), "10.5.0.0/24", "theirs").unwrap_err();
    assert!(matches!(e, ipam::Error::Duplicate { .. }), "{e:?}");
}

#[test]
fn a_reference_delete_is_noticed_too() {
    let data = tempfile::tempdir().unwrap();
    let ip = add(data.path(), "10.6.0.0/24", "c1").unwrap();
    std::fs::remove_file(data.path().join(format!("net/{ip}"))).unwrap();
    // Someone else takes the address for another container.
    std::fs::write(data.path().join(format!("net/{ip}")), "other\r\neth0").unwrap();
    let store = Store::open(data.path(), "net").unwrap();
    store.refresh_index().unwrap();
    assert!(store.held_by(&Owner::new("c1", "eth0")).unwrap().is_empty());
}

#[test]
fn symlinks_are_refused_not_followed() {
    let data = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), data.path().join("net")).unwrap();
    let e = Store::open(data.path(), "net").err().unwrap();
    assert!(matches!(e, ipam::Error::Unsafe { why: "is a symlink", .. }), "{e:?}");

    // A planted symlink where a reservation would go blocks that address and is left alone.
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir(data.path().join("net")).unwrap();
    let target = elsewhere.path().join("victim");
    std::os::unix::fs::symlink(&target, data.path().join("net/10.7.0.2")).unwrap();
    let ip = add(data.path(), "10.7.0.0/24", "c1").unwrap();
    assert_eq!(ip.to_string(), "10.7.0.3");
    assert!(!target.exists(), "the symlink was followed");
}

#[test]
fn concurrent_writers_never_share_an_address() {
    let data = tempfile::tempdir().unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let dir = data.path().to_path_buf();
            std::thread::spawn(move || {
                (0..25).map(|i| add(&dir, "10.8.0.0/24", &format!("t{t}-{i}")).unwrap()).collect::<Vec<_>>()
            })
        })
        .collect();
    let all: Vec<IpAddr> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 100);
    assert_eq!(unique.len(), 100, "an address was handed out twice");
}

#[test]
fn exhaustion_leaves_nothing_behind() {
    let data = tempfile::tempdir().unwrap();
    add(data.path(), "10.9.0.0/30", "a").unwrap();
    let e = add(data.path(), "10.9.0.0/30", "b").unwrap_err();
    assert!(matches!(e, ipam::Error::Exhausted { .. }), "{e:?}");
    let store = Store::open(data.path(), "net").unwrap();
    assert_eq!(store.scan().unwrap().len(), 1);
}

#[test]
fn a_symlinked_data_dir_is_used() {
    let real = tempfile::tempdir().unwrap();
    let parent = tempfile::tempdir().unwrap();
    let link = parent.path().join("networks");
    std::os::unix::fs::symlink(real.path(), &link).unwrap();
    add(&link, "10.10.0.0/24", "c1").unwrap();
    assert!(real.path().join("net/10.10.0.2").is_file());
}

/// A writer SIGKILLed between writing a temporary file and linking or
/// renaming it leaves the file behind; the next run (holding the lock, so no
/// writer can be mid-way) removes it instead of keeping it forever.
#[test]
fn temporary_files_of_a_killed_writer_are_swept() {
    let data = tempfile::tempdir().unwrap();
    add(data.path(), "10.7.0.0/24", "first").unwrap();
    let meta = data.path().join("net/.railcni");
    for stale in ["tmp.4242", "cursor.4242", "index.4242", "stamp.4242", "probe.4242"] {
        std::fs::write(meta.join(stale), "half").unwrap();
    }
    add(data.path(), "10.7.0.0/24", "second").unwrap();
    let mut left: Vec<String> =
        std::fs::read_dir(&meta).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, ["attachments", "stamp"]);
}
