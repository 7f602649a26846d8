//! host-local's on-disk store, in the reference format, which stays the source of truth:
//! `<dataDir>/<network>/<ip>` holds `containerID\r\nifname`, next to
//! `last_reserved_ip.<rangeIndex>` and the `lock` file every writer flocks.
//!
//! Every path below `dataDir` is opened relative to a directory fd with
//! `O_NOFOLLOW`, so a planted symlink is refused, never followed.

mod fs;
mod index;

use crate::error::Error;
use fs::Dir;
use nix::fcntl::{Flock, FlockArg};
use std::net::IpAddr;
use std::path::Path;

pub use index::Owner;

/// An open, locked store of one network. The flock is held until drop.
pub struct Store {
    dir: Dir,
    meta: Dir,
    att: Dir,
    _lock: Flock<std::fs::File>,
}

/// railcni's own files live here, out of the way of the reference's.
const META: &str = ".railcni";

/// Prefixes of the temporary files written in [`META`] before being linked or
/// renamed into place (each followed by the writer's pid).
const TEMP_PREFIXES: [&str; 5] = ["tmp.", "cursor.", "index.", "stamp.", "probe."];

impl Store {
    /// Open (creating as needed) `<data_dir>/<network>` and take its lock.
    pub fn open(data_dir: &Path, network: &str) -> Result<Store, Error> {
        std::fs::create_dir_all(data_dir).map_err(|e| Error::io(format!("creating {}", data_dir.display()), e))?;
        let root = Dir::open_root(data_dir)?;
        let dir = root.subdir(network, 0o755)?;
        let lock = dir.create_file("lock", 0o644)?;
        let lock = Flock::lock(lock, FlockArg::LockExclusive)
            .map_err(|(_, errno)| Error::io(format!("locking {}/lock", dir.path()), errno))?;
        let meta = dir.subdir(META, 0o700)?;
        let att = meta.subdir("attachments", 0o700)?;
        let store = Store { dir, meta, att, _lock: lock };
        store.sweep_temp_files()?;
        Ok(store)
    }

    /// Remove temporary files a killed writer left behind. Every writer holds
    /// the lock we now hold, so whatever temporary file exists is stale.
    fn sweep_temp_files(&self) -> Result<(), Error> {
        for name in self.meta.names()? {
            if TEMP_PREFIXES.iter().any(|p| name.starts_with(p)) {
                tracing::info!(dir = self.path(), name, "removing a temporary file left by a killed run");
                self.meta.remove(&name)?;
            }
        }
        Ok(())
    }

    pub fn path(&self) -> &str {
        self.dir.path()
    }

    /// Claim `ip` for the attachment. `false` if someone holds it already.
    ///
    /// The file is written under a temporary name and linked into place, so
    /// it appears whole or not at all: a crash never leaves an empty
    /// reservation that no DEL would match.
    pub fn reserve(&self, ip: IpAddr, owner: &Owner) -> Result<bool, Error> {
        let tmp = format!("tmp.{}", std::process::id());
        self.meta.write_file(&tmp, owner.to_file().as_bytes())?;
        let linked = self.meta.link_to(&tmp, &self.dir, &ip.to_string());
        self.meta.remove(&tmp)?;
        linked
    }

    /// Who holds `ip`, if anyone.
    pub fn owner(&self, ip: IpAddr) -> Result<Option<Owner>, Error> {
        Ok(self.dir.read_file(&ip.to_string())?.map(|text| Owner::parse(&text)))
    }

    pub fn release(&self, ip: IpAddr) -> Result<(), Error> {
        self.dir.remove(&ip.to_string())
    }

    /// The round-robin cursor of range set `idx`.
    pub fn last_reserved(&self, idx: usize) -> Result<Option<IpAddr>, Error> {
        let text = self.dir.read_file(&format!("last_reserved_ip.{idx}"))?;
        Ok(text.and_then(|t| cni::net::parse_ip(t.trim())))
    }

    pub fn set_last_reserved(&self, idx: usize, ip: IpAddr) -> Result<(), Error> {
        let tmp = format!("cursor.{}", std::process::id());
        self.meta.write_file(&tmp, ip.to_string().as_bytes())?;
        self.meta.rename_to(&tmp, &self.dir, &format!("last_reserved_ip.{idx}"))
    }

    /// Every reservation on disk: a full directory read, for GC and index rebuilds.
    pub fn scan(&self) -> Result<Vec<(IpAddr, Owner)>, Error> {
        let mut out = Vec::new();
        for name in self.dir.names()? {
            // Only canonical IP names are reservations; `lock`, cursors and ours are not.
            let Some(ip) = cni::net::parse_ip(&name).filter(|ip| ip.to_string() == name) else {
                continue;
            };
            if let Some(text) = self.dir.read_file(&name)? {
                out.push((ip, Owner::parse(&text)));
            }
        }
        Ok(out)
    }

    /// Make the operation durable: the reservations' directory entries reach disk.
    pub fn sync(&self) -> Result<(), Error> {
        self.dir.sync()
    }

    /// Probe that the store can be written (STATUS).
    pub fn probe_writable(&self) -> Result<(), Error> {
        let tmp = format!("probe.{}", std::process::id());
        self.meta.write_file(&tmp, b"")?;
        self.meta.remove(&tmp)
    }
}
