//! The test-kit: what the black-box tests, the conformance tool and the
//! benches share.
//!
//! Plugins are exec'd exactly as a CNI runtime does (env + JSON on stdin), so the
//! tests hold for any implementation: point `RAILCNI_BIN_DIR` at
//! `/usr/lib/cni` to run them against the reference plugins.
//!
//! - running a plugin: [`Binary`] (ours or the reference's), [`Invocation`]
//!   (env + stdin), [`Outcome`] (what a runtime observes), [`conf`] (configs);
//! - the node: [`netns::Namespace`], [`kernel`] (links, addresses, routes as
//!   facts), [`lab`] (a disposable node per plugin family, and `driver`, the
//!   libcni runtime the labs run plugins through);
//! - the plugins' facts: one [`profile::Profile`] per plugin type;
//! - what is left behind: [`footprint`] (the one leak detector), [`store`]
//!   (host-local's dataDir), [`cluster_ipam`] (cluster-ipam's records in etcd);
//! - [`etcd`]: a 3-member etcd cluster on loopback, for etcd-backed IPAM;
//! - results: [`result`] (shape per cniVersion, the kernel agrees), and
//!   [`vs_reference`] (ours and the reference's side by side).

pub mod binary;
pub mod cluster_ipam;
pub mod conf;
pub mod driver;
pub mod etcd;
mod exec;
pub mod footprint;
pub mod kernel;
pub mod lab;
pub mod netns;
mod outcome;
pub mod profile;
pub mod result;
pub mod rng;
pub mod rofs;
pub mod store;
mod vfs;
pub mod vs_reference;

pub use binary::{Binary, Invocation};
pub use exec::Usage;
pub use outcome::Outcome;
pub use store::DataDir;

use std::sync::atomic::{AtomicU64, Ordering};

/// A network name unique within this test process (and across processes via the
/// pid), valid under the CNI name pattern `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let clean: String =
        prefix.chars().map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '-' }).collect();
    let clean = clean.trim_start_matches(['_', '.', '-']);
    let clean = if clean.is_empty() { "net" } else { clean };
    format!("{clean}-{}-{n}", std::process::id())
}

/// A row of a plugin's bad-config table: keys that make its config
/// invalid, and the key the error must name.
pub struct BadKeys {
    pub keys: fn() -> serde_json::Value,
    pub key: &'static str,
}

/// One `#[test]` per row of a table of cases: each row is a test of its
/// own (named, counted and filtered by `cargo test` as before), while the
/// body, `$run(row)`, is written once. A row may carry attributes
/// (`#[ignore = "..."]`).
///
/// ```text
/// testkit::table_tests!(bad_config {
///     invalid_mode_is_code_7: ("mode", json!({ "mode": "sideways" })),
/// });
/// ```
#[macro_export]
macro_rules! table_tests {
    ($run:path { $($(#[$attr:meta])* $name:ident: $row:expr,)* }) => {
        $(
            #[test]
            $(#[$attr])*
            fn $name() {
                $run($row)
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn unique_names_are_valid_and_distinct() {
        let a = super::unique_name("bad input/x");
        let b = super::unique_name("bad input/x");
        assert_ne!(a, b);
        for n in [a, b, super::unique_name("..")] {
            let first = n.chars().next().unwrap_or(' ');
            assert!(first.is_ascii_alphanumeric(), "{n}");
            assert!(n.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)), "{n}");
        }
    }
}
