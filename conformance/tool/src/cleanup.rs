//! "Nothing is left": what a lab's host namespace, a pod and the temp dirs
//! hold, so that a check can compare before ADD with after DEL.

use crate::Target;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;
use testkit::lab::Lab;

/// The state a plugin could leak, as sorted one-line facts.
#[derive(Debug, PartialEq)]
pub struct Footprint(BTreeSet<String>);

impl Footprint {
    /// The lab's host namespace (links, addresses, routes of every table,
    /// rules, nftables), pod `pod`'s links, rules and routes of every table,
    /// the state of the lab's devices (SR-IOV VFs), and every file below
    /// the lab's dirs that reserves an address or names the pod's container.
    pub fn take(target: &Target, lab: &Lab, pod: usize) -> Footprint {
        let mut facts = BTreeSet::new();
        let keep = |dev: &str| target.profile.persistent_link(lab, dev);
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
            let fam = if v6 { "-6" } else { "-4" };
            if let Ok(rules) = lab.host.ip(&[fam, "rule", "show"]) {
                facts.extend(rules.lines().map(|r| format!("host rule {r}")));
            }
        }
        if let Ok(out) = run_in(lab, &["nft", "list", "ruleset"]) {
            facts.extend(out.lines().filter(|l| !l.trim().is_empty()).map(|l| format!("host nft {}", l.trim())));
        }
        if lab.pod(pod).exists() {
            let p = lab.pod(pod);
            for l in p.links() {
                facts.insert(format!("pod link {} ({})", l.name(), l.kind()));
            }
            for v6 in [false, true] {
                for r in p.routes(v6) {
                    facts.insert(format!("pod route {} dev {} table {}", r["dst"], r["dev"], r["table"]));
                }
                let fam = if v6 { "-6" } else { "-4" };
                if let Ok(rules) = p.ip(&[fam, "rule", "show"]) {
                    facts.extend(rules.lines().map(|r| format!("pod rule {r}")));
                }
            }
        }
        facts.extend(lab.devices.iter().flat_map(|pci| testkit::vfs::facts(pci)));
        let cid = lab.cid(pod);
        for (path, content) in files(lab.tmp()) {
            let name = Path::new(&path).file_name().and_then(|n| n.to_str()).unwrap_or("");
            let is_reservation = name.parse::<IpAddr>().is_ok();
            if path.starts_with("cache/") || path.starts_with("net.d/") {
                continue; // the runtime's, not the plugin's
            }
            if is_reservation || content.contains(&cid) {
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

fn run_in(lab: &Lab, argv: &[&str]) -> Result<String, String> {
    let out = lab.host.exec(argv);
    if out.status.success() { Ok(String::from_utf8_lossy(&out.stdout).into_owned()) } else { Err(String::new()) }
}

/// Every regular file below `root`: relative path → content.
fn files(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => dirs.push(p),
                Ok(t) if t.is_file() => {
                    let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
                    let content = String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_default()).into_owned();
                    out.push((rel, content));
                }
                _ => {}
            }
        }
    }
    out
}
