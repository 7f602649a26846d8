//! The small per-attachment state files plugins keep beside IPAM (ipvlan's
//! port records, sriov's VF records): written atomically and durably, each
//! write and removal a kill point for the fault tests (`crate::fault`).

use crate::fault;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Replace `path` with `data` so that a crash leaves the old file or the new
/// one, never a part of it: `data` goes to `tmp` (in the same directory) and
/// is fsync'd, `tmp` is renamed over `path`, and the directory is fsync'd.
/// A process killed in between leaves `tmp` behind, complete: callers name
/// it per attachment (or per device, under a lock) so that DEL can find it.
pub fn write_atomic(path: &Path, tmp: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new().create(true).truncate(true).write(true).mode(0o600).open(tmp)?;
    let written = file.write_all(data).and_then(|()| file.sync_all());
    fault::step("state: write");
    if let Err(e) = written {
        let _ = std::fs::remove_file(tmp);
        return Err(e);
    }
    let renamed = std::fs::rename(tmp, path);
    fault::step("state: rename");
    renamed?;
    match path.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// Remove `path`; already gone is fine.
pub fn remove(path: &Path) -> std::io::Result<()> {
    let removed = std::fs::remove_file(path);
    fault::step("state: unlink");
    match removed {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let (path, tmp) = (dir.path().join("rec"), dir.path().join(".rec.tmp"));
        super::write_atomic(&path, &tmp, b"one").unwrap();
        super::write_atomic(&path, &tmp, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert!(!tmp.exists());
        super::remove(&path).unwrap();
        super::remove(&path).unwrap();
        assert!(!path.exists());
    }
}
