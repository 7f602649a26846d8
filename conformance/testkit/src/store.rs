//! Temporary data directories and inspection of host-local's on-disk store
//! (`<dataDir>/<network>/<ip>` files containing `containerID\r\nifname`).

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// A private dataDir, removed on drop (also when the test panics).
#[derive(Debug)]
pub struct DataDir {
    tmp: TempDir,
}

impl DataDir {
    pub fn try_new() -> io::Result<DataDir> {
        Ok(DataDir { tmp: tempfile::Builder::new().prefix("railcni-conformance-").tempdir()? })
    }

    /// Panics if the system temp dir is unusable: no test can run then.
    pub fn new() -> DataDir {
        DataDir::try_new().unwrap_or_else(|e| panic!("cannot create a temp dataDir: {e}"))
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// The path as a string, for JSON configs.
    pub fn path_str(&self) -> String {
        self.tmp.path().display().to_string()
    }

    pub fn net_dir(&self, network: &str) -> PathBuf {
        self.tmp.path().join(network)
    }

    /// All file names in the network's directory (empty if it does not exist).
    pub fn files(&self, network: &str) -> Vec<String> {
        list_files(&self.net_dir(network)).unwrap_or_default()
    }

    /// Reservation files of the network: name → content.
    pub fn reservations(&self, network: &str) -> BTreeMap<String, String> {
        reservations(&self.net_dir(network)).unwrap_or_default()
    }

    /// Every regular, non-bookkeeping file below the dataDir (relative path → content):
    /// what a failed request must leave exactly as it found it.
    pub fn state_files(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for rel in self.all_entries() {
            let p = self.path().join(&rel);
            // Anything inside a hidden directory is an implementation's private state.
            let hidden = Path::new(&rel).iter().any(|c| c.to_string_lossy().starts_with('.'));
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            if hidden || name.as_deref().is_some_and(is_bookkeeping) {
                continue;
            }
            if let Ok(m) = std::fs::symlink_metadata(&p)
                && m.is_file()
            {
                let content = std::fs::read(&p).unwrap_or_default();
                out.insert(rel, String::from_utf8_lossy(&content).into_owned());
            }
        }
        out
    }

    /// Everything below the dataDir, as relative paths (to prove "nothing was written").
    pub fn all_entries(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(self.path(), self.path(), &mut out);
        out.sort();
        out
    }
}

impl Default for DataDir {
    fn default() -> Self {
        DataDir::new()
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        out.push(p.strip_prefix(root).unwrap_or(&p).display().to_string());
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(root, &p, out);
        }
    }
}

/// Sorted file names in `dir`; a missing dir is an empty list.
pub fn list_files(dir: &Path) -> io::Result<Vec<String>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for e in rd {
        names.push(e?.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// Files a store may keep besides reservations: the flock file, the round-robin
/// cursors, and hidden files (an implementation's own index or temp files).
pub fn is_bookkeeping(name: &str) -> bool {
    name == "lock" || name.starts_with("last_reserved_ip.") || name.starts_with('.')
}

/// Reservation files in a network dir: name → content.
pub fn reservations(dir: &Path) -> io::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for name in list_files(dir)? {
        if is_bookkeeping(&name) {
            continue;
        }
        let path = dir.join(&name);
        // A reservation released between the listing and the read (a
        // concurrent DEL) is simply gone; it must not make the whole list fail.
        let gone = |e: &io::Error| e.kind() == io::ErrorKind::NotFound;
        let meta = match std::fs::symlink_metadata(&path) {
            Err(e) if gone(&e) => continue,
            other => other?,
        };
        // A stray directory or symlink is not a reservation, but must not hide the others.
        let content = if meta.is_file() {
            match std::fs::read(&path) {
                Err(e) if gone(&e) => continue,
                other => String::from_utf8_lossy(&other?).into_owned(),
            }
        } else {
            "<not a regular file>".to_string()
        };
        out.insert(name, content);
    }
    Ok(out)
}

/// The reference on-disk content of a reservation.
pub fn reservation_content(cid: &str, ifname: &str) -> String {
    format!("{cid}\r\n{ifname}")
}

/// Writes a reservation exactly as the reference host-local does.
pub fn write_reservation(dir: &Path, ip: IpAddr, cid: &str, ifname: &str) -> io::Result<()> {
    std::fs::write(dir.join(ip.to_string()), reservation_content(cid, ifname))
}
