//! The CNI bin dirs a stage's containerd can run: railcni's debug build, or
//! Debian's reference plugins.

use std::path::{Path, PathBuf};

/// Where Debian's containernetworking-plugins are.
pub const REFERENCE_DIR: &str = "/usr/lib/cni";

/// The railcni binaries a pod on a stage may run: loopback for every pod
/// (containerd runs it itself), the interface plugins and IPAM.
const RAILCNI: &[&str] = &["loopback", "bridge", "macvlan", "tuning", "host-local"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plugins {
    Railcni,
    Reference,
}

impl Plugins {
    pub fn label(self) -> &'static str {
        match self {
            Plugins::Railcni => "railcni",
            Plugins::Reference => "reference",
        }
    }

    /// The CRI plugin's `bin_dir`. railcni's is a directory of symlinks
    /// under `dir` to the debug build (`cargo build --workspace`), so that
    /// containerd finds railcni's plugins and nothing else of the build.
    pub fn bin_dir(self, dir: &Path) -> PathBuf {
        match self {
            Plugins::Reference => PathBuf::from(REFERENCE_DIR),
            Plugins::Railcni => {
                let build = build_dir();
                let bin = dir.join("bin");
                std::fs::create_dir_all(&bin).expect("bin dir");
                for name in RAILCNI {
                    let exe = build.join(name);
                    assert!(
                        exe.is_file(),
                        "{} is missing: run `cargo build --workspace` first (or set RAILCNI_BIN_DIR)",
                        exe.display()
                    );
                    std::os::unix::fs::symlink(&exe, bin.join(name)).expect("symlink a plugin");
                }
                bin
            }
        }
    }
}

/// railcni's binaries: `$RAILCNI_BIN_DIR`, else `<target>/debug`, where
/// target is `$CARGO_TARGET_DIR` or the workspace's `target`. A relative
/// path is the workspace root's, where test.sh sets it (cargo runs a
/// test in its package's directory).
fn build_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let var = |name| std::env::var_os(name).filter(|d| !d.is_empty()).map(|d| workspace.join(d));
    var("RAILCNI_BIN_DIR")
        .unwrap_or_else(|| var("CARGO_TARGET_DIR").unwrap_or_else(|| workspace.join("target")).join("debug"))
}
