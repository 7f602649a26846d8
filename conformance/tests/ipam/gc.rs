//! host-local GC (cniVersion 1.1.0): everything not listed in
//! `cni.dev/valid-attachments` (or the legacy `cni.dev/attachments`) is released.

use serde_json::{Value, json};
use testkit::{Binary, DataDir, Invocation, conf, store, unique_name};

const VERSION: &str = "1.1.0";

struct Net {
    p: Binary,
    dd: DataDir,
    name: String,
    conf: Value,
}

impl Net {
    fn new(subnet: &str) -> Net {
        let dd = DataDir::new();
        let name = unique_name("gc");
        let conf = conf::host_local_v4(VERSION, &name, dd.path(), subnet);
        Net { p: Binary::ours("host-local"), dd, name, conf }
    }

    fn add_all(&self, cids: &[String]) {
        for cid in cids {
            self.p.add(&self.conf, cid, "eth0").assert_ok_json();
        }
        assert_eq!(self.dd.reservations(&self.name).len(), cids.len());
    }

    fn gc(&self, key: &str, keep: &[&String]) {
        let list: Vec<Value> = keep.iter().map(|cid| json!({ "containerID": cid, "ifname": "eth0" })).collect();
        let mut c = self.conf.clone();
        c[key] = Value::Array(list); // not conf::with: the key itself contains a dot

        self.p.call(&Invocation::gc().stdin_json(&c)).assert_ok_silent();
    }

    /// Owners (file contents) of the remaining reservations, sorted.
    fn owners(&self) -> Vec<String> {
        let mut v: Vec<String> = self.dd.reservations(&self.name).into_values().collect();
        v.sort();
        v
    }

    fn bookkeeping_kept(&self) {
        let files = self.dd.files(&self.name);
        assert!(files.iter().any(|f| f == "lock"), "lock kept: {files:?}");
        assert!(files.iter().any(|f| f.starts_with("last_reserved_ip.")), "last_reserved_ip.* kept: {files:?}");
    }
}

fn cids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("cid-gc-{i}")).collect()
}

fn gc_keeps_listed(key: &str) {
    let net = Net::new("10.91.0.0/24");
    let ids = cids(5);
    net.add_all(&ids);
    net.gc(key, &[&ids[1], &ids[3]]);
    assert_eq!(
        net.owners(),
        vec![store::reservation_content(&ids[1], "eth0"), store::reservation_content(&ids[3], "eth0")],
        "exactly the valid attachments remain ({key})"
    );
    net.bookkeeping_kept();

    // Released attachments can be added again; kept ones are still held.
    net.p.add(&net.conf, &ids[0], "eth0").assert_ok_json();
    net.p.add(&net.conf, &ids[1], "eth0").assert_error(100);
    assert_eq!(net.owners().len(), 3);
}

#[test]
fn gc_keeps_valid_attachments() {
    gc_keeps_listed("cni.dev/valid-attachments");
}

#[test]
fn gc_honours_legacy_attachments_key() {
    gc_keeps_listed("cni.dev/attachments");
}

#[test]
fn gc_with_empty_list_releases_all() {
    let net = Net::new("10.91.1.0/24");
    let ids = cids(5);
    net.add_all(&ids);
    net.gc("cni.dev/valid-attachments", &[]);
    assert!(net.owners().is_empty(), "all released: {:?}", net.owners());
    net.bookkeeping_kept();
    for cid in &ids {
        net.p.add(&net.conf, cid, "eth0").assert_ok_json();
    }
}

#[test]
fn gc_matches_on_ifname_too() {
    let net = Net::new("10.91.2.0/24");
    net.p.add(&net.conf, "cid-multi", "eth0").assert_ok_json();
    net.p.add(&net.conf, "cid-multi", "net1").assert_ok_json();
    let mut c = net.conf.clone();
    c["cni.dev/valid-attachments"] = json!([{ "containerID": "cid-multi", "ifname": "net1" }]);
    net.p.call(&Invocation::gc().stdin_json(&c)).assert_ok_silent();
    assert_eq!(net.owners(), vec![store::reservation_content("cid-multi", "net1")]);
}

#[test]
fn gc_leaves_other_networks_alone() {
    let net = Net::new("10.91.3.0/24");
    let other = unique_name("gc-other");
    let other_conf = conf::host_local_v4(VERSION, &other, net.dd.path(), "10.91.4.0/24");
    net.p.add(&net.conf, "cid-a", "eth0").assert_ok_json();
    net.p.add(&other_conf, "cid-b", "eth0").assert_ok_json();
    net.gc("cni.dev/valid-attachments", &[]);
    assert!(net.owners().is_empty());
    assert_eq!(
        net.dd.reservations(&other).into_values().collect::<Vec<_>>(),
        vec![store::reservation_content("cid-b", "eth0")],
        "GC of one network must not touch another"
    );
}
