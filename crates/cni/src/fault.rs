//! Kill points for the fault-injection tests.
//!
//! Every step that changes the kernel or the disk (a netlink request, a
//! sysctl write, a file write, link, rename or unlink in the IPAM store)
//! calls [`step`]. In a debug build, `RAILCNI_FAULT_AFTER=N` makes the
//! process SIGKILL itself right after its Nth step, the way kubelet or Multus
//! kill a plugin on a timeout; the tests then check that a DEL cleans up
//! whatever the dead ADD left. Each step is also logged to stderr then, so a
//! run that was not killed tells the test how many steps there are. An IPAM
//! plugin run in-process shares the count; an exec'd one inherits the
//! variable and counts its own steps.
//!
//! Release builds compile [`step`] to nothing: the variable is inert there.

/// The variable holding N.
pub const ENV: &str = "RAILCNI_FAULT_AFTER";

/// Count one kernel or disk step; in a debug build, die after the Nth.
#[cfg(debug_assertions)]
pub fn step(what: &str) {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static LIMIT: OnceLock<Option<u64>> = OnceLock::new();
    static DONE: AtomicU64 = AtomicU64::new(0);
    let Some(limit) = *LIMIT.get_or_init(|| std::env::var(ENV).ok().and_then(|v| v.parse().ok())) else {
        return;
    };
    let n = DONE.fetch_add(1, Ordering::SeqCst) + 1;
    eprintln!("railcni fault step {n}: {what}");
    if n == limit {
        eprintln!("railcni fault: killed after step {n}");
        // SIGKILL, not a panic or exit: no destructor, no rollback, no flush runs.
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn step(_what: &str) {}
