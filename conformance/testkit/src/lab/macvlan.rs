//! A disposable node for the macvlan tests: a [`Lab`] (host namespace, pod
//! namespaces, temp config/IPAM/cache dirs) plus a master interface inside
//! the host namespace: one end of a veth pair created there, both ends up.
//! Names inside the private host namespace need not be unique, so the master
//! is always [`MASTER`]. Everything goes away on drop.

use crate::kernel::LinkInfo;
use crate::lab::{Lab, plugin_object};
use crate::netns::Namespace;
use crate::profile::Profile;
use crate::result::result_ips;
use serde_json::{Value, json};
use std::ops::{Deref, DerefMut};

pub use crate::profile::{MASTER, MASTER_PEER};

pub struct MacvlanLab {
    lab: Lab,
    pub master: String,
    /// The plugin type under test: `macvlan`, or `ipvlan`, which takes the same master.
    pub kind: &'static str,
}

impl Deref for MacvlanLab {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        &self.lab
    }
}

impl DerefMut for MacvlanLab {
    fn deref_mut(&mut self) -> &mut Lab {
        &mut self.lab
    }
}

impl MacvlanLab {
    /// A host namespace with [`MASTER`] (up, MTU 1500) and empty dirs;
    /// `cni_path` is what the runtime searches.
    pub fn new(cni_path: &str) -> MacvlanLab {
        MacvlanLab::of_kind("macvlan", cni_path)
    }

    /// The same, for plugin type `kind`.
    pub fn of_kind(kind: &'static str, cni_path: &str) -> MacvlanLab {
        let lab = Lab::new(cni_path);
        let profile = Profile::find(kind).unwrap_or_else(|| panic!("no profile {kind}"));
        profile.prepare_host(&lab.host).unwrap_or_else(|e| panic!("{e}"));
        MacvlanLab { lab, master: MASTER.to_string(), kind }
    }

    /// The plugin object: `{"type":<kind>,"master":<MASTER>, ...extra, "ipam": ipam}`.
    /// A `null` in `extra` removes the key (`{"master": null}`: no master).
    pub fn macvlan_plugin(&self, extra: Value, ipam: Value) -> Value {
        plugin_object(json!({ "type": self.kind, "master": self.master }), extra, ipam)
    }

    /// Writes a one-plugin conflist with the plugin.
    pub fn setup(&self, version: &str, extra: Value, ipam: Value) -> Value {
        let list = self.conflist(version, vec![self.macvlan_plugin(extra, ipam)]);
        self.write_conflist(&list);
        list
    }

    /// The plain lab; the master stays in its host namespace.
    pub fn into_lab(self) -> Lab {
        self.lab
    }

    /// Names of every link in the host namespace, sorted.
    pub fn host_link_names(&self) -> Vec<String> {
        sorted_names(&self.host)
    }

    /// A failed libcni ADD of pod `pod`: CNI error `code` whose msg or
    /// details name `key`. Returns the msg.
    #[track_caller]
    pub fn assert_add_fails(&self, pod: usize, code: u64, key: &str) -> String {
        let out = self.drive(&self.call("add", pod));
        let err = out.assert_error_code(code);
        let msg = err["msg"].as_str().unwrap_or_default().to_string();
        let details = err["details"].as_str().unwrap_or_default();
        assert!(format!("{msg} {details}").contains(key), "error msg must name {key:?}: {err}\n{}", out.describe());
        msg
    }

    /// Nothing from a failed ADD of pod `pod`: the pod holds only
    /// `pod_links`, the store no reservation of the pod's.
    #[track_caller]
    pub fn assert_nothing_left(&self, pod: usize, pod_links: &[&str], what: &str) {
        let p = self.pod(pod);
        assert_eq!(sorted_names(p), pod_links, "{what}: links in the pod\n{}", p.dump());
        assert!(self.held_by(pod).is_empty(), "{what}: reservation left behind: {:?}", self.reservations());
    }
}

/// A veth pair `name`/`peer` in `ns`, both up: a stand-in for a NIC.
pub fn add_veth_master(ns: &Namespace, name: &str, peer: &str) -> Result<(), String> {
    ns.ip(&["link", "add", name, "type", "veth", "peer", "name", peer])?;
    ns.ip(&["link", "set", peer, "up"])?;
    ns.ip(&["link", "set", name, "up"])?;
    Ok(())
}

/// Gives `dev` in `ns` the address `cidr` and a default route via `gw`.
pub fn add_default_route(ns: &Namespace, dev: &str, cidr: &str, gw: &str) -> Result<(), String> {
    ns.ip(&["addr", "add", cidr, "dev", dev])?;
    ns.ip(&["route", "add", "default", "via", gw, "dev", dev])?;
    Ok(())
}

/// Every link name in `ns`, sorted.
pub fn sorted_names(ns: &Namespace) -> Vec<String> {
    let mut v: Vec<String> = ns.links().iter().map(|l| l.name().to_string()).collect();
    v.sort();
    v
}

/// `linkinfo.info_data.<key>` of a link (`mode`, `bcqueuelen` for macvlan).
pub fn info_data<'a>(l: &'a LinkInfo, key: &str) -> Option<&'a Value> {
    l.raw["linkinfo"]["info_data"].get(key)
}

/// Where a stacked link's parent (`IFLA_LINK`) is: the namespace's name and
/// the parent's name in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parent {
    pub netns: String,
    pub name: String,
}

/// The parent of `link` (which is in `ns`). A parent in another namespace
/// shows up as `link_index` + `link_netnsid`; the nsid is mapped to a name
/// with `ip netns list-id`, among `candidates` (the namespaces to look in).
pub fn parent_of(ns: &Namespace, link: &LinkInfo, candidates: &[&Namespace]) -> Result<Parent, String> {
    let raw = &link.raw;
    match raw.get("link_netnsid").and_then(Value::as_i64) {
        None => {
            // Same namespace: `ip` prints the parent's name as `link`.
            let name = raw["link"].as_str().ok_or_else(|| format!("{} has no parent: {raw}", link.name()))?;
            Ok(Parent { netns: ns.name().to_string(), name: name.to_string() })
        }
        Some(nsid) => {
            let ids = ns.ip_json(&["netns", "list-id"])?;
            let target = ids
                .as_array()
                .and_then(|a| a.iter().find(|e| e["nsid"].as_i64() == Some(nsid)))
                .and_then(|e| e["name"].as_str())
                .ok_or_else(|| format!("nsid {nsid} of {}'s parent is not a named namespace: {ids}", link.name()))?;
            let other = candidates.iter().find(|c| c.name() == target).ok_or_else(|| {
                format!("{}'s parent is in {target}, not in any of the lab's namespaces", link.name())
            })?;
            let index = raw["link_index"].as_u64().ok_or_else(|| format!("no link_index: {raw}"))?;
            let parent = other
                .links()
                .into_iter()
                .find(|l| l.raw["ifindex"].as_u64() == Some(index))
                .ok_or_else(|| format!("no link #{index} in {target}"))?;
            Ok(Parent { netns: target.to_string(), name: parent.name().to_string() })
        }
    }
}

/// The pod side of one macvlan ADD, as found in the kernel.
#[derive(Debug, Clone)]
pub struct Attached {
    pub link: LinkInfo,
    /// `ips[].address` in result order.
    pub ips: Vec<String>,
}

/// Checks the 1.x result of a macvlan ADD against the pod: exactly one
/// interface, `ifname` with `sandbox` = the pod's path and the kernel's MAC;
/// the link is a macvlan; every IP has `interface` 0 and is on the link.
pub fn check_attachment(result: &Value, pod: &Namespace, ifname: &str) -> Result<Attached, String> {
    check_attachment_of("macvlan", result, pod, ifname)
}

/// [`check_attachment`] for a link of type `kind`.
pub fn check_attachment_of(kind: &str, result: &Value, pod: &Namespace, ifname: &str) -> Result<Attached, String> {
    let ctx = || format!("result: {result}\n{}", pod.dump());
    let ifs = result["interfaces"].as_array().cloned().unwrap_or_default();
    if ifs.len() != 1 {
        return Err(format!("expected 1 interface [{ifname}], got {}\n{}", ifs.len(), ctx()));
    }
    if ifs[0]["name"] != ifname || ifs[0]["sandbox"] != pod.path_str() {
        return Err(format!("interfaces[0] must be {ifname} with sandbox {}\n{}", pod.path_str(), ctx()));
    }
    let link = pod.link(ifname).ok_or_else(|| format!("{ifname} missing in the pod\n{}", ctx()))?;
    if link.kind() != kind {
        return Err(format!("{ifname} is a {:?}, not a {kind}\n{}", link.kind(), ctx()));
    }
    let mac = ifs[0]["mac"].as_str().unwrap_or("").to_ascii_lowercase();
    if mac != link.mac() {
        return Err(format!("interfaces[0].mac {mac:?} != kernel {}\n{}", link.mac(), ctx()));
    }
    let ips = result_ips(result, 0, pod, ifname).map_err(|e| format!("{e}\n{}", ctx()))?;
    Ok(Attached { link, ips })
}
