//! What a node may cache about a network: the slices it owns. Safe to cache
//! because a slice never changes owner while the node lives, and every
//! allocation re-checks ownership in its own transaction (the slice key's
//! create revision), so a stale cache costs a retry, never a duplicate.
//! Lost or absent, it is rebuilt from etcd on the next claim.

use crate::error::Error;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct SliceCache {
    /// Pool key → owned slices, oldest claim first.
    pub pools: BTreeMap<String, Vec<OwnedSlice>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OwnedSlice {
    pub index: u64,
    /// The slice key's create revision: the claim this node made.
    pub revision: i64,
}

pub struct NodeState {
    dir: PathBuf,
}

impl NodeState {
    pub fn new(dir: &Path) -> NodeState {
        NodeState { dir: dir.to_path_buf() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn cache_path(&self, net: &str) -> PathBuf {
        self.dir.join(format!("slices-{}.json", file_safe(net)))
    }

    /// The cache, or an empty one when absent or unreadable (it is only a cache).
    pub fn load(&self, net: &str) -> SliceCache {
        std::fs::read(self.cache_path(net)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    pub fn store(&self, net: &str, cache: &SliceCache) -> Result<(), Error> {
        self.ensure_dir()?;
        let path = self.cache_path(net);
        let tmp = self.dir.join(format!(".slices-{}.json.{}", file_safe(net), std::process::id()));
        let data = serde_json::to_vec(cache).map_err(|e| Error::io("slice cache", std::io::Error::other(e)))?;
        cni::statefile::write_atomic(&path, &tmp, &data).map_err(|e| Error::io(path.display().to_string(), e))
    }

    /// Serialise the node's slice claims for one network: whoever holds it
    /// re-reads the cache first and finds a slice another ADD just claimed.
    pub fn lock(&self, name: &str) -> Result<Flock<File>, Error> {
        self.ensure_dir()?;
        let path = self.dir.join(format!("{}.lock", file_safe(name)));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(path.display().to_string(), e))?;
        Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| Error::io(path.display().to_string(), e.into()))
    }

    pub fn ensure_dir(&self) -> Result<(), Error> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(self.dir.display().to_string(), e))
    }
}

/// Network ids may hold ':' and ',' (v6 CIDRs); file names keep to a plain set.
fn file_safe(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect()
}
