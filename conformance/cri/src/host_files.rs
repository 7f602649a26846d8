//! What containerd's CRI plugin writes outside a stage's directory, at
//! paths it fixes itself, and how a stage finds its own entries there:
//! - `/var/run/netns/cni-<uuid>`: each pod's network namespace, a bind mount;
//! - `/var/lib/cni/results/<network>-<sandbox id>-<ifname>`: libcni's cache
//!   of each attachment's result (and of loopback's, network `cni-loopback`);
//! - `/run/containerd/s/<sha256>`: each pod shim's socket, named by a hash
//!   of containerd's address, the namespace and the sandbox ID.

use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};

pub const CNI_CACHE_DIR: &str = "/var/lib/cni/results";
const SHIM_SOCKET_DIR: &str = "/run/containerd/s";

/// libcni's cache files of a sandbox, of any network and interface.
pub fn cache_files(sandbox_id: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(CNI_CACHE_DIR) else { return Vec::new() };
    let infix = format!("-{sandbox_id}-");
    entries.flatten().filter(|e| e.file_name().to_string_lossy().contains(&infix)).map(|e| e.path()).collect()
}

/// The socket containerd's runc shim v2 serves a sandbox on, by its rule:
/// `/run/containerd/s/` + hex(sha256(address/namespace/id)).
pub fn shim_socket(containerd_socket: &Path, sandbox_id: &str) -> PathBuf {
    let key = containerd_socket.join("k8s.io").join(sandbox_id);
    let hash: String = Sha256::digest(key.as_os_str().as_encoded_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    Path::new(SHIM_SOCKET_DIR).join(hash)
}

/// Removes a pod's network namespace file if it is still there: unmount
/// the bind mount (lazily: a process may still be in it), then unlink.
pub fn remove_netns(path: &Path) {
    if path.exists() {
        let _ = nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH);
        let _ = fs::remove_file(path);
    }
}

/// Unmounts whatever is still mounted under `dir` (a failed test can leave
/// a sandbox's rootfs mounted in containerd's state), deepest first.
pub fn unmount_all_under(dir: &Path) {
    let Ok(mountinfo) = fs::read_to_string("/proc/self/mountinfo") else { return };
    let mut points: Vec<&str> =
        mountinfo.lines().filter_map(|l| l.split(' ').nth(4)).filter(|p| Path::new(p).starts_with(dir)).collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// `/run/containerd/s` and `/run/containerd`, which the first shim
/// creates, once no shim of anyone's uses them.
pub fn remove_shim_dirs_if_empty() {
    let dir = Path::new(SHIM_SOCKET_DIR);
    let _ = fs::remove_dir(dir);
    if let Some(parent) = dir.parent() {
        let _ = fs::remove_dir(parent);
    }
}
