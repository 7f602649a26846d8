//! What the differential tests against the reference plugins
//! (`tests/*_vs_reference.rs`) share: the same config is exec'd directly
//! (no runtime library, which would re-marshal the result and hide
//! differences such as `dns`), once with our binaries and once with
//! Debian's, each in its own [`Lab`]; each run is reduced to what the two
//! can be compared on ([`Run`]), and [`differences`] lists what differs.

use crate::binary::{Binary, Invocation};
use crate::conf;
use crate::kernel::facts_diff;
use crate::lab::Lab;
use crate::netns::{Namespace, skip_without_root};
use crate::outcome::Outcome;
use serde_json::{Value, json};

/// The reference's highest version.
pub const VERSION: &str = "1.0.0";
/// The pod's interface on both sides.
pub const IFNAME: &str = "eth0";
/// The container ID on both sides.
const CID: &str = "diff-ctr";

/// Runs `side` with the reference's `plugin` (label `ref`; its directory is
/// the `CNI_PATH`), then with ours (`ours`): `(theirs, ours)`. `None`, after
/// printing SKIPPED, without root.
pub fn run_both<S>(plugin: &str, side: impl Fn(&Binary) -> S) -> Option<(S, S)> {
    if skip_without_root(&format!("the {plugin} differential tests")) {
        return None;
    }
    // Both first: a missing binary fails before any namespace is made.
    let (theirs, ours) = (Binary::reference(plugin), Binary::ours(plugin));
    Some((side(&theirs), side(&ours)))
}

/// A plugin object as both sides get it: `cniVersion` [`VERSION`] and the
/// same network name (each lab has its own).
pub fn plugin_conf(plugin: Value) -> Value {
    let mut c = plugin;
    c["cniVersion"] = json!(VERSION);
    c["name"] = json!("diff");
    c
}

/// `verb` with `stdin` for pod `p`, the plugin exec'd directly in the lab's
/// host namespace.
pub fn exec(lab: &Lab, plugin: &Binary, p: usize, verb: &str, stdin: &Value) -> Outcome {
    let inv = Invocation::attachment_verb(verb)
        .attachment(CID, IFNAME)
        .set("CNI_NETNS", &lab.pod(p).path_str())
        .stdin_json(stdin);
    lab.exec_plugin(plugin, &inv)
}

/// `verbs` one after the other with `conf` + the ADD's `result` as
/// prevResult, as a runtime sends them: each with its [`verdict`]. An entry's
/// last word is the verb, so a repeat can be told apart (`second DEL`).
pub fn follow_up(
    lab: &Lab,
    plugin: &Binary,
    p: usize,
    conf: &Value,
    result: &Value,
    verbs: &[&'static str],
) -> Vec<(&'static str, String)> {
    let follow = conf::with_prev_result(conf, result);
    let verb_of = |label: &str| label.rsplit(' ').next().unwrap_or(label).to_string();
    verbs.iter().map(|&v| (v, verdict(&exec(lab, plugin, p, &verb_of(v), &follow)))).collect()
}

/// "ok" or "error <code>: <stdout>".
pub fn verdict(o: &Outcome) -> String {
    assert!(!o.panicked(), "{}", o.describe());
    if o.success() {
        "ok".into()
    } else {
        format!("error {}: {}", o.json().ok().and_then(|v| v["code"].as_u64()).unwrap_or(0), o.stdout_str().trim())
    }
}

/// One fact per sysctl: `sysctl <scope> <key>=<value>` (the error if it
/// cannot be read).
pub fn sysctl_facts(ns: &Namespace, scope: &str, keys: &[String]) -> Vec<String> {
    keys.iter().map(|k| format!("sysctl {scope} {k}={}", ns.sysctl(k).unwrap_or_else(|e| e))).collect()
}

/// What one implementation did, in the terms the two are compared in.
#[derive(Debug, Clone)]
pub struct Run {
    /// `ref` or `ours`.
    pub label: &'static str,
    /// The ADD result's [`layout`](crate::result::layout).
    pub layout: Value,
    /// Facts about the pod's kernel state while the attachment exists.
    pub pod: Vec<String>,
    /// The verbs after ADD with their verdicts, in order.
    pub verdicts: Vec<(&'static str, String)>,
}

/// What differs between the reference's run and ours, apart from pod facts
/// starting with one of `allowed` (differences on purpose): the result
/// layout, the pod facts (`pod_state` names them in the message), and the
/// verdicts. Each of ours must be "ok" and, unless its verb is in
/// `may_differ`, the same as the reference's.
pub fn differences(theirs: &Run, ours: &Run, allowed: &[&str], pod_state: &str, may_differ: &[&str]) -> Vec<String> {
    let mut diffs = Vec::new();
    if ours.layout != theirs.layout {
        diffs.push(format!(
            "result layout differs:\n  {}: {}\n  {}: {}",
            theirs.label, theirs.layout, ours.label, ours.layout
        ));
    }
    let without_allowed = |facts: &[String]| -> Vec<String> {
        facts.iter().filter(|f| !allowed.iter().any(|a| f.starts_with(a))).cloned().collect()
    };
    let d = facts_diff(theirs.label, &without_allowed(&theirs.pod), ours.label, &without_allowed(&ours.pod));
    if !d.is_empty() {
        diffs.push(format!("{pod_state} differs:\n{d}"));
    }
    for ((verb, a), (_, b)) in theirs.verdicts.iter().zip(&ours.verdicts) {
        if (a != b && !may_differ.contains(verb)) || b != "ok" {
            diffs.push(format!("{verb}: {} {a}, {} {b}", theirs.label, ours.label));
        }
    }
    diffs
}
