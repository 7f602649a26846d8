//! A read-only tmpfs mounted on a temp dir: the one way to make a directory
//! unwritable for root (permission bits do not stop root; EROFS does).

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

#[derive(Debug)]
pub struct ReadOnlyMount {
    mountpoint: PathBuf,
    // Dropped after the unmount in `Drop`, which removes the empty mountpoint.
    _holder: TempDir,
}

impl ReadOnlyMount {
    /// Mounts an empty read-only tmpfs; `Err` says why not (e.g. not root, no CAP_SYS_ADMIN).
    pub fn new() -> Result<ReadOnlyMount, String> {
        ReadOnlyMount::tmpfs("size=64k", MsFlags::MS_RDONLY)
    }

    /// A writable tmpfs of `size` bytes (`"256k"`), to fill up: a full disk.
    pub fn small(size: &str) -> Result<ReadOnlyMount, String> {
        ReadOnlyMount::tmpfs(&format!("size={size}"), MsFlags::empty())
    }

    /// Make the mount read-only from now on, keeping what was written to it.
    pub fn remount_read_only(&self) -> Result<(), String> {
        let flags = MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
        mount(None::<&str>, &self.mountpoint, None::<&str>, flags, None::<&str>)
            .map_err(|e| format!("remount -o ro {}: {e}", self.mountpoint.display()))
    }

    fn tmpfs(options: &str, extra: MsFlags) -> Result<ReadOnlyMount, String> {
        let holder =
            tempfile::Builder::new().prefix("railcni-rofs-").tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let mountpoint = holder.path().join("ro");
        std::fs::create_dir(&mountpoint).map_err(|e| format!("mkdir: {e}"))?;
        mount(Some("tmpfs"), &mountpoint, Some("tmpfs"), extra | MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some(options))
            .map_err(|e| format!("mount -t tmpfs -o {options} on {}: {e}", mountpoint.display()))?;
        Ok(ReadOnlyMount { mountpoint, _holder: holder })
    }

    pub fn path(&self) -> &Path {
        &self.mountpoint
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        // Lazy unmount: succeeds even if a (killed) plugin still had it open.
        let _ = umount2(&self.mountpoint, MntFlags::MNT_DETACH);
    }
}
