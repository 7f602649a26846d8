//! Network namespace handles. `setns` moves only the calling thread, so work
//! inside a pod namespace is a synchronous closure between two `setns` calls
//! ([`Netns::run`]); it never spans an `.await`.

use crate::Error;
use nix::fcntl::{Flock, FlockArg};
use nix::sched::{CloneFlags, setns};
use nix::sys::statfs::{PROC_SUPER_MAGIC, fstatfs};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// nsfs, where `/run/netns/*` bind mounts and `/proc/<pid>/ns/net` live.
const NSFS_MAGIC: u64 = 0x6e73_6673;

#[derive(Debug)]
pub struct Netns {
    file: File,
    path: String,
}

impl Netns {
    /// Open a namespace by path, refusing anything that is not an nsfs or procfs namespace file.
    pub fn open(path: &Path) -> Result<Netns, Error> {
        let shown = path.display().to_string();
        let bad = |why: String| Error::Netns { path: shown.clone(), why };
        // O_NONBLOCK: opening a FIFO planted as CNI_NETNS must fail the check
        // below, not wait forever for a writer.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| bad(e.to_string()))?;
        let fs = fstatfs(file.as_fd()).map_err(|e| bad(e.to_string()))?;
        // The magic's integer type differs between libcs (i64 on glibc, u64 on musl).
        #[allow(clippy::unnecessary_cast)]
        let (magic, proc_magic) = (fs.filesystem_type().0 as u64, PROC_SUPER_MAGIC.0 as u64);
        if magic != NSFS_MAGIC && magic != proc_magic {
            return Err(bad(format!("is not a network namespace (filesystem magic {magic:#x})")));
        }
        Ok(Netns { file, path: shown })
    }

    /// The calling thread's own namespace (not the thread group leader's).
    pub fn current() -> Result<Netns, Error> {
        Netns::open(Path::new("/proc/thread-self/ns/net"))
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Run `f` with the calling thread inside this namespace, then return to `home`.
    pub fn run<T>(&self, home: &Netns, f: impl FnOnce() -> T) -> Result<T, Error> {
        enter(&self.file, &self.path)?;
        let out = f();
        // Failing to come back would leave this thread in the pod: nothing
        // after it could be trusted, so report it as the error it is.
        enter(&home.file, &home.path)?;
        Ok(out)
    }

    /// An exclusive `flock` on the namespace file, held until dropped. The
    /// reference sbr takes the same lock, so the two serialise in one pod.
    pub fn lock(&self) -> Result<Flock<File>, Error> {
        let bad = |why: String| Error::Netns { path: self.path.clone(), why };
        let file = File::open(&self.path).map_err(|e| bad(e.to_string()))?;
        Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| bad(format!("flock: {e}")))
    }

    /// Same namespace as `other` (same nsfs inode).
    pub fn same_as(&self, other: &Netns) -> bool {
        self.id().is_some() && self.id() == other.id()
    }

    /// The namespace's identity: its nsfs device and inode.
    pub fn id(&self) -> Option<(u64, u64)> {
        nix::sys::stat::fstat(self.file.as_fd()).map(|s| (s.st_dev, s.st_ino)).ok()
    }
}

fn enter(file: &File, path: &str) -> Result<(), Error> {
    setns(file.as_fd(), CloneFlags::CLONE_NEWNET)
        .map_err(|e| Error::Netns { path: path.to_string(), why: format!("setns: {e}") })
}
