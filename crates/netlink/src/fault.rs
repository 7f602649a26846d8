//! The kill-point hook. Every kernel step (a netlink request, an nftables
//! commit, a sysctl write) reports itself here before it runs, so the
//! fault-injection tests can kill a plugin between any two of them. This
//! crate knows nothing of how the tests count steps: the plugin's runtime
//! installs the counter once at start-up ([`on_step`]); without one a step
//! costs one atomic load.

use std::sync::OnceLock;

static HOOK: OnceLock<fn(&str)> = OnceLock::new();

/// Install the function every kernel step calls. The first call wins.
pub fn on_step(hook: fn(&str)) {
    let _ = HOOK.set(hook);
}

/// Report one kernel step, named by what it does.
pub(crate) fn step(what: &str) {
    if let Some(hook) = HOOK.get() {
        hook(what);
    }
}
