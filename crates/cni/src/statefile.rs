//! The small per-attachment state files plugins keep beside IPAM (ipvlan's
//! port records, sriov's VF records): written atomically and durably, each
//! write and removal a kill point for the fault tests (`crate::fault`).

use crate::{Error, Request, fault};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

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

/// One attachment's state file (tuning's backup, host-device's record):
/// `<dir>/<containerID>_<ifname>.json`, the reference tuning's name, with
/// its temporary file beside it, written before what it records changes.
pub struct AttachmentFile {
    pub path: PathBuf,
    tmp: PathBuf,
}

impl AttachmentFile {
    pub fn of(dir: &Path, req: &Request) -> AttachmentFile {
        let name = format!("{}_{}.json", req.env.container_id, req.env.ifname);
        AttachmentFile { path: dir.join(&name), tmp: dir.join(format!(".{name}.tmp")) }
    }

    /// The content (Go-style keys), if there is a file. A complete temporary
    /// file a killed write left counts: it was written before anything it
    /// records changed. A torn one (a crash, not a kill point) is ignored.
    pub fn read<T: DeserializeOwned>(&self) -> Result<Option<T>, Error> {
        if let Some(v) = read_json(&self.path)? {
            return Ok(Some(v));
        }
        Ok(read_json(&self.tmp).unwrap_or(None))
    }

    pub fn write<T: Serialize>(&self, value: &T) -> Result<(), Error> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let data = serde_json::to_vec_pretty(value).map_err(|e| Error::Internal { msg: e.to_string() })?;
        write_atomic(&self.path, &self.tmp, &data).map_err(|e| Error::io(format!("writing {}", self.path.display()), e))
    }

    /// Remove the file and its temporary one; already gone is fine.
    pub fn remove(&self) -> Result<(), Error> {
        for path in [&self.tmp, &self.path] {
            remove(path).map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
        }
        Ok(())
    }
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, Error> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::io(format!("reading {}", path.display()), std::io::Error::other(e.to_string())))?;
    crate::config::decode_conf(value, &path.display().to_string()).map(Some)
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

    #[test]
    fn attachment_files_round_trip_and_a_torn_temporary_file_is_ignored() {
        use super::AttachmentFile;
        use std::path::PathBuf;
        let dir = tempfile::tempdir().unwrap();
        let f = AttachmentFile { path: dir.path().join("c_net1.json"), tmp: dir.path().join(".c_net1.json.tmp") };
        assert_eq!(f.read::<Vec<u32>>().unwrap(), None);
        std::fs::write(&f.tmp, b"[1, 2").unwrap();
        assert_eq!(f.read::<Vec<u32>>().unwrap(), None);
        std::fs::write(&f.tmp, b"[1, 2]").unwrap();
        assert_eq!(f.read::<Vec<u32>>().unwrap(), Some(vec![1, 2]));
        f.write(&vec![3u32]).unwrap();
        assert_eq!(f.read::<Vec<u32>>().unwrap(), Some(vec![3]));
        f.remove().unwrap();
        f.remove().unwrap();
        assert!(!PathBuf::from(&f.path).exists() && !f.tmp.exists());
    }
}
