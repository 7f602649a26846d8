//! What an attachment leaves on a node, for the fault and load tests: host
//! links, addresses, routes (every table) and policy rules, the nftables
//! ruleset, and the host-local store's per-attachment files. Two footprints
//! taken around a fault must be equal: anything extra is a leak.

use crate::netns::NetNs;
use std::path::Path;

/// Sorted one-line facts about `ns` that no attachment may leave behind:
/// links, addresses, routes and rules, minus every line that mentions one of
/// `shared` (the bridge, which outlives its ports as the reference's does).
pub fn host_facts(ns: &NetNs, shared: &[&str]) -> Vec<String> {
    let mut facts = ns.normalized();
    for fam in ["-4", "-6"] {
        let rules = ns.ip(&[fam, "rule", "show"]).unwrap_or_else(|e| panic!("{e}"));
        facts.extend(rules.lines().map(|l| format!("rule{fam} {}", l.trim())));
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
pub fn nft_ruleset(ns: &NetNs) -> String {
    let out = ns.exec(&["nft", "list", "ruleset"]);
    assert!(out.status.success(), "nft list ruleset in {}: {}", ns.name(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Everything in a pod namespace but its loopback: links, addresses, routes.
pub fn pod_leftovers(pod: &NetNs) -> Vec<String> {
    if !pod.exists() {
        return Vec::new();
    }
    let mut facts = pod.normalized();
    facts.retain(|f| !f.starts_with("link lo ") && !f.starts_with("addr lo "));
    facts
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
}
