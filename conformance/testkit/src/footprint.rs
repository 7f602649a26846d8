//! What an attachment leaves on a node, for the fault and load tests: host
//! links, addresses, routes (every table) and policy rules, the nftables
//! ruleset, and the host-local store's per-attachment files. Two footprints
//! taken around a fault must be equal: anything extra is a leak.

use crate::netns::Namespace;
use std::path::Path;

/// Sorted one-line facts about `ns` that no attachment may leave behind:
/// links, addresses, routes and rules, minus every line that mentions one of
/// `shared` (the bridge, which outlives its ports as the reference's does).
pub fn host_facts(ns: &Namespace, shared: &[&str]) -> Vec<String> {
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
pub fn nft_ruleset(ns: &Namespace) -> String {
    let out = ns.exec(&["nft", "list", "ruleset"]);
    assert!(out.status.success(), "nft list ruleset in {}: {}", ns.name(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Everything in a pod namespace but its loopback and the kernel's own
/// rules: links, addresses, routes (every table), policy rules.
pub fn pod_leftovers(pod: &Namespace) -> Vec<String> {
    if !pod.exists() {
        return Vec::new();
    }
    let mut facts = pod.normalized();
    facts.retain(|f| !f.starts_with("link lo ") && !f.starts_with("addr lo "));
    for fam in ["-4", "-6"] {
        let rules = pod.ip(&[fam, "rule", "show"]).unwrap_or_else(|e| panic!("{e}"));
        facts.extend(rules.lines().filter(|l| !is_default_rule(l)).map(|l| format!("rule{fam} {}", l.trim())));
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
    fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&e.path(), &path, out);
            } else if !name.ends_with(".lock") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out);
    out.sort();
    out
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
