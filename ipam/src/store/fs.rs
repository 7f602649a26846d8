//! Directory-relative file operations that never follow a symlink.

use crate::error::Error;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, open, openat, renameat};
use nix::sys::stat::{Mode, fstat, futimens, mkdirat};
use nix::sys::time::TimeSpec;
use nix::unistd::{UnlinkatFlags, fsync, linkat, unlinkat};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// An open directory; every name below it is resolved relative to its fd.
pub struct Dir {
    fd: OwnedFd,
    path: String,
}

const DIR_FLAGS: OFlag = OFlag::O_RDONLY.union(OFlag::O_DIRECTORY).union(OFlag::O_NOFOLLOW).union(OFlag::O_CLOEXEC);

/// Turn a refused open into an error that says why. `O_DIRECTORY` reports a
/// symlink as ENOTDIR, so look at the entry itself to tell the two apart.
fn refuse(path: &str, errno: Errno) -> Error {
    match errno {
        Errno::ELOOP | Errno::ENOTDIR => {
            let symlink = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
            let why = if symlink { "is a symlink" } else { "is not a directory" };
            Error::Unsafe { path: path.to_string(), why }
        }
        e => Error::io(format!("opening {path}"), e),
    }
}

impl Dir {
    /// Open the store root (`dataDir`). It may be a symlink, since admins
    /// relocate state directories that way; nothing below it is followed.
    pub fn open_root(path: &Path) -> Result<Dir, Error> {
        let shown = path.display().to_string();
        let fd = open(path, DIR_FLAGS.difference(OFlag::O_NOFOLLOW), Mode::empty()).map_err(|e| refuse(&shown, e))?;
        Ok(Dir { fd, path: shown })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    fn child(&self, name: &str) -> String {
        format!("{}/{name}", self.path)
    }

    /// Create (if missing) and open a subdirectory.
    pub fn subdir(&self, name: &str, mode: u32) -> Result<Dir, Error> {
        let path = self.child(name);
        match mkdirat(self.fd.as_fd(), name, Mode::from_bits_truncate(mode)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(Error::io(format!("creating {path}"), e)),
        }
        let fd = openat(self.fd.as_fd(), name, DIR_FLAGS, Mode::empty()).map_err(|e| refuse(&path, e))?;
        Ok(Dir { fd, path })
    }

    /// Open `name` for reading, creating it empty if missing (the lock file).
    pub fn create_file(&self, name: &str, mode: u32) -> Result<File, Error> {
        let flags = OFlag::O_RDONLY | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(self.fd.as_fd(), name, flags, Mode::from_bits_truncate(mode))
            .map_err(|e| refuse(&self.child(name), e))?;
        Ok(File::from(fd))
    }

    /// Replace `name`'s content (used for temporary files only), durably:
    /// the data reaches the disk before the caller links or renames the file
    /// into place, so a power loss cannot leave a named but empty file.
    pub fn write_file(&self, name: &str, data: &[u8]) -> Result<(), Error> {
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let path = self.child(name);
        let fd = openat(self.fd.as_fd(), name, flags, Mode::from_bits_truncate(0o644)).map_err(|e| refuse(&path, e))?;
        let mut file = File::from(fd);
        let written = file.write_all(data).and_then(|()| file.sync_data());
        cni::fault::step("store: write");
        if let Err(e) = written {
            // A full disk must not also leave a partial temporary file behind.
            let _ = unlinkat(self.fd.as_fd(), name, UnlinkatFlags::NoRemoveDir);
            return Err(Error::io(format!("writing {path}"), e));
        }
        Ok(())
    }

    /// `name`'s content; `None` if it does not exist. Something that is not a
    /// regular file (a symlink, a directory) reads as empty: present, owned by nobody we know.
    pub fn read_file(&self, name: &str) -> Result<Option<String>, Error> {
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
        let fd = match openat(self.fd.as_fd(), name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(Errno::ELOOP) => return Ok(Some(String::new())),
            Err(e) => return Err(Error::io(format!("opening {}", self.child(name)), e)),
        };
        let mut text = String::new();
        match File::from(fd).read_to_string(&mut text) {
            Ok(_) => Ok(Some(text)),
            Err(e) if e.raw_os_error() == Some(Errno::EISDIR as i32) => Ok(Some(String::new())),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Ok(Some(String::new())),
            Err(e) => Err(Error::io(format!("reading {}", self.child(name)), e)),
        }
    }

    /// Hard-link `name` to `to/new_name`; `false` if `new_name` exists (the atomic claim).
    pub fn link_to(&self, name: &str, to: &Dir, new_name: &str) -> Result<bool, Error> {
        let linked = linkat(self.fd.as_fd(), name, to.fd.as_fd(), new_name, AtFlags::empty());
        cni::fault::step("store: link");
        match linked {
            Ok(()) => Ok(true),
            Err(Errno::EEXIST) => Ok(false),
            Err(e) => Err(Error::io(format!("creating {}", to.child(new_name)), e)),
        }
    }

    pub fn rename_to(&self, name: &str, to: &Dir, new_name: &str) -> Result<(), Error> {
        let renamed = renameat(self.fd.as_fd(), name, to.fd.as_fd(), new_name);
        cni::fault::step("store: rename");
        renamed.map_err(|e| Error::io(format!("replacing {}", to.child(new_name)), e))
    }

    /// Remove `name`; already gone is fine.
    pub fn remove(&self, name: &str) -> Result<(), Error> {
        let removed = unlinkat(self.fd.as_fd(), name, UnlinkatFlags::NoRemoveDir);
        cni::fault::step("store: unlink");
        match removed {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(Error::io(format!("removing {}", self.child(name)), e)),
        }
    }

    /// Every entry name (no `.`/`..`).
    pub fn names(&self) -> Result<Vec<String>, Error> {
        let mut dir = nix::dir::Dir::openat(self.fd.as_fd(), ".", DIR_FLAGS, Mode::empty())
            .map_err(|e| Error::io(format!("listing {}", self.path), e))?;
        let mut names = Vec::new();
        for entry in dir.iter() {
            let entry = entry.map_err(|e| Error::io(format!("listing {}", self.path), e))?;
            let Ok(name) = entry.file_name().to_str() else {
                continue;
            };
            if name != "." && name != ".." {
                names.push(name.to_string());
            }
        }
        Ok(names)
    }

    pub fn sync(&self) -> Result<(), Error> {
        fsync(self.fd.as_fd()).map_err(|e| Error::io(format!("syncing {}", self.path), e))
    }

    /// The directory's identity and modification time: any entry created,
    /// removed or renamed in it changes the time.
    pub fn version(&self) -> Result<DirVersion, Error> {
        let st = fstat(self.fd.as_fd()).map_err(|e| Error::io(format!("stat {}", self.path), e))?;
        Ok(DirVersion { ino: st.st_ino, sec: st.st_mtime, nsec: st.st_mtime_nsec })
    }

    /// Set the modification time to `t`, read back (the filesystem may round it).
    pub fn set_mtime(&self, t: TimeSpec) -> Result<DirVersion, Error> {
        let touched = futimens(self.fd.as_fd(), &TimeSpec::UTIME_OMIT, &t);
        cni::fault::step("store: touch");
        touched.map_err(|e| Error::io(format!("touching {}", self.path), e))?;
        self.version()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirVersion {
    pub ino: u64,
    pub sec: i64,
    pub nsec: i64,
}

impl DirVersion {
    pub fn encode(&self) -> String {
        format!("{} {} {}", self.ino, self.sec, self.nsec)
    }

    pub fn decode(s: &str) -> Option<DirVersion> {
        let mut it = s.split_whitespace().map(str::parse::<i64>);
        let v = DirVersion { ino: it.next()?.ok()? as u64, sec: it.next()?.ok()?, nsec: it.next()?.ok()? };
        Some(v)
    }
}
