//! The conformance suite: checks any CNI plugin binary against the CNI spec
//! 1.1.0 and its conventions, black-box, in namespaces it creates itself.
//!
//! A [`Profile`] says how to configure one plugin type and what the host
//! needs for it (a master link, say). Every check runs in a fresh [`Lab`]
//! (private "host" namespace, pod namespaces, temp dirs) that is removed
//! afterwards, pass or fail, and yields one [`Verdict`] with a reason.
//!
//! [`Lab`]: testkit::lab::Lab

mod attach;
mod ctx;
mod protocol;
mod report;
mod runtime;

pub use ctx::Target;
pub use report::{Format, render, render_versus};
pub use testkit::profile::{PROFILES, Profile};

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Skip,
}

/// One check's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub id: &'static str,
    /// Where the requirement comes from: `SPEC §…` or `CONVENTIONS …`.
    pub spec: &'static str,
    pub verdict: Verdict,
    pub reason: String,
}

/// A check: its id, the spec section it enforces, and the code. `Ok(())`
/// passes; `Err(Skip(..))` does not apply; `Err(Fail(..))` fails.
pub struct Check {
    pub id: &'static str,
    pub spec: &'static str,
    pub run: fn(&Target) -> Checked,
}

pub enum Why {
    Fail(String),
    Skip(String),
}

pub type Checked = Result<(), Why>;

pub fn fail<T>(msg: impl Into<String>) -> Result<T, Why> {
    Err(Why::Fail(msg.into()))
}

pub fn skip<T>(msg: impl Into<String>) -> Result<T, Why> {
    Err(Why::Skip(msg.into()))
}

/// Fails with `msg` unless `cond`.
/// `why` with `what` before a failure's message (a skip stays as it is).
pub fn prefix(why: Why, what: &str) -> Why {
    match why {
        Why::Fail(m) => Why::Fail(format!("{what}: {m}")),
        other => other,
    }
}

pub fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Checked {
    if cond { Ok(()) } else { fail(msg()) }
}

/// The whole report for one plugin.
#[derive(Debug, Serialize)]
pub struct Report {
    pub plugin: String,
    #[serde(rename = "type")]
    pub plugin_type: String,
    pub checks: Vec<CheckResult>,
}

impl Report {
    pub fn count(&self, v: Verdict) -> usize {
        self.checks.iter().filter(|c| c.verdict == v).count()
    }
}

/// Every check, in report order.
pub fn checks() -> Vec<Check> {
    let mut all = protocol::checks();
    all.extend(attach::checks());
    all.extend(runtime::checks());
    all
}

/// Run every check (or those whose id contains `filter`) against `target`.
pub fn run(target: &Target, filter: Option<&str>) -> Report {
    let checks = checks().into_iter().filter(|c| filter.is_none_or(|f| c.id.contains(f)));
    let results = checks.map(|c| run_one(target, &c)).collect();
    Report {
        plugin: target.plugin.path().display().to_string(),
        plugin_type: target.profile.name.into(),
        checks: results,
    }
}

fn run_one(target: &Target, check: &Check) -> CheckResult {
    // A plugin that cannot run here at all (cluster-ipam without etcd)
    // skips every check rather than pass the few that need no state.
    if let Some(why) = testkit::cluster_ipam::unavailable(target.profile) {
        return CheckResult { id: check.id, spec: check.spec, verdict: Verdict::Skip, reason: why };
    }
    // A check that panics (a harness assertion, a failed `ip` call) fails;
    // the lab's Drop has already cleaned up by the time we get here.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (check.run)(target)));
    let (verdict, reason) = match outcome {
        Ok(Ok(())) => (Verdict::Pass, String::new()),
        Ok(Err(Why::Skip(r))) => (Verdict::Skip, r),
        Ok(Err(Why::Fail(r))) => (Verdict::Fail, r),
        Err(p) => {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            (Verdict::Fail, format!("harness error: {}", msg.unwrap_or_default()))
        }
    };
    CheckResult { id: check.id, spec: check.spec, verdict, reason }
}
