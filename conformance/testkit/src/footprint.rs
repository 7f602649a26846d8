//! What an attachment leaves on a node, the one leak detector of the tests,
//! the benches and the conformance suite: host links, addresses, routes
//! (every table) and policy rules, the nftables ruleset, the devices' state
//! and the files that belong to attachments. Two footprints taken around an
//! operation must be equal: anything extra is a leak.
//!
//! [`Footprint`] is a lab's, for the suite, which knows only the plugin's
//! profile; the functions below it are the finer-grained facts the fault and
//! load tests compare.

use crate::lab::Lab;
use crate::netns::Namespace;
use crate::profile::Profile;
use std::collections::BTreeSet;
use std::fs::FileType;
use std::net::IpAddr;
use std::path::Path;

/// The state a plugin could leak, as sorted one-line facts.
#[derive(Debug, PartialEq)]
pub struct Footprint(BTreeSet<String>);

impl Footprint {
    /// The lab's host namespace (links, addresses, routes of every table,
    /// rules, nftables) but what `profile` keeps by design, pod `pod`'s
    /// links (and which are up), rules and routes of every table, the state of the lab's
    /// devices (SR-IOV VFs), every file below the lab's dirs that
    /// reserves an address or names the pod's container, and what an
    /// etcd-backed IPAM holds for the lab ([`crate::cluster_ipam::leftovers`]).
    pub fn take(profile: &Profile, lab: &Lab, pod: usize) -> Footprint {
        let mut facts = BTreeSet::new();
        let keep = |dev: &str| profile.persistent_link(lab, dev);
        for l in lab.host.links() {
            if !keep(l.name()) {
                facts.insert(format!("host link {} ({})", l.name(), l.kind()));
            }
        }
        for a in lab.host.addrs(None) {
            if !keep(&a.dev) && a.scope != "link" && a.dev != "lo" {
                facts.insert(format!("host address {} on {}", a.cidr, a.dev));
            }
        }
        for v6 in [false, true] {
            for r in lab.host.routes(v6) {
                let dev = r["dev"].as_str().unwrap_or("");
                if !keep(dev) && dev != "lo" {
                    facts.insert(format!("host route {} dev {dev} table {}", r["dst"], r["table"]));
                }
            }
            facts.extend(rules(&lab.host, v6).into_iter().flatten().map(|r| format!("host rule {r}")));
        }
        if let Ok(out) = nft_list(&lab.host) {
            facts.extend(out.lines().filter(|l| !l.trim().is_empty()).map(|l| format!("host nft {}", l.trim())));
        }
        if crate::cluster_ipam::runs_in_node_ns(profile) {
            // The node's own namespace, which everything else on the node
            // changes too; an IPAM plugin links no kernel code (the crate
            // graph), its state is in its records and files.
            facts.retain(|f| !f.starts_with("host "));
        }
        if crate::cluster_ipam::is(profile) {
            facts.extend(crate::cluster_ipam::leftovers(lab));
        }
        let p = lab.pod(pod);
        if p.exists() {
            for l in p.links() {
                facts.insert(format!("pod link {} ({})", l.name(), l.kind()));
                // A link left up is state too: the loopback plugin's DEL must
                // bring lo down (only an up that appears counts, as for all facts).
                if l.admin_up() {
                    facts.insert(format!("pod link {} is up", l.name()));
                }
            }
            for v6 in [false, true] {
                for r in p.routes(v6) {
                    facts.insert(format!("pod route {} dev {} table {}", r["dst"], r["dev"], r["table"]));
                }
                facts.extend(rules(p, v6).into_iter().flatten().map(|r| format!("pod rule {r}")));
            }
        }
        facts.extend(lab.devices.iter().flat_map(|pci| crate::vfs::facts(pci)));
        let cid = lab.cid(pod);
        for path in files(lab.tmp(), |_, t| t.is_file()) {
            if path.starts_with("cache/") || path.starts_with("net.d/") {
                continue; // the runtime's, not the plugin's
            }
            let name = Path::new(&path).file_name().and_then(|n| n.to_str()).unwrap_or("");
            let is_reservation = name.parse::<IpAddr>().is_ok();
            if is_reservation || read_lossy(&lab.tmp().join(&path)).contains(&cid) {
                facts.insert(format!("file {path}"));
            }
        }
        Footprint(facts)
    }

    /// What `self` has that `before` had not, one per line.
    pub fn added_since(&self, before: &Footprint) -> Vec<String> {
        self.0.difference(&before.0).cloned().collect()
    }
}

/// `ip -4|-6 rule show` in `ns`, one rule a line.
fn rules(ns: &Namespace, v6: bool) -> Result<Vec<String>, String> {
    let rules = ns.ip(&[if v6 { "-6" } else { "-4" }, "rule", "show"])?;
    Ok(rules.lines().map(str::to_string).collect())
}

/// `nft list ruleset` in `ns`, or its stderr.
fn nft_list(ns: &Namespace) -> Result<String, String> {
    let out = ns.exec(&["nft", "list", "ruleset"]);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn read_lossy(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

/// The entries below `root` but directories that `wanted(name, type)`
/// accepts: relative paths, sorted.
fn files(root: &Path, wanted: impl Fn(&str, FileType) -> bool) -> Vec<String> {
    type Wanted<'a> = &'a dyn Fn(&str, FileType) -> bool;
    fn walk(dir: &Path, rel: &str, wanted: Wanted, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            match e.file_type() {
                Ok(t) if t.is_dir() => walk(&e.path(), &path, wanted, out),
                Ok(t) if wanted(&name, t) => out.push(path),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(root, "", &wanted, &mut out);
    out.sort();
    out
}

/// Sorted one-line facts about `ns` that no attachment may leave behind:
/// links, addresses, routes and rules, minus every line that mentions one of
/// `shared` (the bridge, which outlives its ports as the reference's does).
pub fn host_facts(ns: &Namespace, shared: &[&str]) -> Vec<String> {
    let mut facts = ns.normalized();
    for (v6, fam) in [(false, "-4"), (true, "-6")] {
        let rules = rules(ns, v6).unwrap_or_else(|e| panic!("{e}"));
        facts.extend(rules.iter().map(|l| format!("rule{fam} {}", l.trim())));
    }
    facts.extend(nft_ruleset(ns).lines().map(|l| format!("nft {}", l.trim())));
    facts.retain(|f| !shared.iter().any(|s| mentions(f, s)));
    facts.sort();
    facts
}

/// `f` names the link `name` (a whole word, so `br1` does not match `br10`).
fn mentions(f: &str, name: &str) -> bool {
    f.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')).any(|w| w == name)
}

/// `nft list ruleset` inside `ns` (empty when nft has nothing).
pub fn nft_ruleset(ns: &Namespace) -> String {
    nft_list(ns).unwrap_or_else(|e| panic!("nft list ruleset in {}: {e}", ns.name()))
}

/// Everything in a pod namespace but its loopback and the kernel's own
/// rules: links, addresses, routes (every table), policy rules.
pub fn pod_leftovers(pod: &Namespace) -> Vec<String> {
    if !pod.exists() {
        return Vec::new();
    }
    let mut facts = pod.normalized();
    facts.retain(|f| !f.starts_with("link lo ") && !f.starts_with("addr lo "));
    for (v6, fam) in [(false, "-4"), (true, "-6")] {
        let rules = rules(pod, v6).unwrap_or_else(|e| panic!("{e}"));
        facts.extend(rules.iter().filter(|l| !is_default_rule(l)).map(|l| format!("rule{fam} {}", l.trim())));
    }
    facts
}

/// A rule every new namespace has: `0: from all lookup local`, `32766:
/// from all lookup main`, `32767: from all lookup default`.
fn is_default_rule(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    matches!(
        words.as_slice(),
        ["0:", "from", "all", "lookup", "local"]
            | ["32766:", "from", "all", "lookup", "main"]
            | ["32767:", "from", "all", "lookup", "default"]
    )
}

/// Files under a plugin's state directory (ipvlan's `stateDir`, sriov's
/// `dataDir`) but the lock files, which belong to the master or the VF and
/// stay; every other file belongs to an attachment. Relative paths, sorted.
pub fn state_files(dir: &Path) -> Vec<String> {
    files(dir, |name, _| !name.ends_with(".lock"))
}

/// Files of a host-local network directory that belong to attachments:
/// reservations, index entries and temporary files. The lock, the
/// round-robin cursors, the directories and the seal stamp are the network's.
pub fn store_leftovers(net_dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let list = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    };
    for name in list(net_dir) {
        if name != "lock" && name != ".railcni" && !name.starts_with("last_reserved_ip.") {
            out.push(name);
        }
    }
    for name in list(&net_dir.join(".railcni")) {
        if name != "attachments" && name != "stamp" {
            out.push(format!(".railcni/{name}"));
        }
    }
    out.extend(list(&net_dir.join(".railcni/attachments")).into_iter().map(|n| format!(".railcni/attachments/{n}")));
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn mentions_whole_names_only() {
        assert!(super::mentions("link rcb-1-2 kind=\"bridge\"", "rcb-1-2"));
        assert!(!super::mentions("link rcb-1-20 kind=\"bridge\"", "rcb-1-2"));
    }

    #[test]
    fn default_rules_are_not_leftovers() {
        assert!(super::is_default_rule("0:\tfrom all lookup local"));
        assert!(super::is_default_rule("32766:\tfrom all lookup main "));
        assert!(!super::is_default_rule("1000:\tfrom 10.0.0.5 lookup 1000"));
    }
}
