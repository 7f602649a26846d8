//! Putting one file into a directory that something else execs from, such
//! that a reader sees either the old file or the complete new one.
//!
//! The new content goes to a temporary name in the same directory (same
//! filesystem, so the rename is atomic), is fsync'd, then renamed over the
//! old name, and the directory is fsync'd so the rename survives a crash.
//! Writing in place instead would let a kubelet exec a half-written plugin,
//! or fail with ETXTBSY while the old one runs.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    Written,
    Unchanged,
}

/// Copies `src` to `dir/name` with `mode`, unless a file there already has
/// the same bytes and mode.
pub fn place(src: &Path, dir: &Path, name: &str, mode: u32) -> io::Result<Placed> {
    let dest = dir.join(name);
    if same_file(src, &dest, Some(mode))? {
        return Ok(Placed::Unchanged);
    }
    replace(dir, name, mode, |to| io::copy(&mut File::open(src)?, to).map(drop))
}

/// [`place`] for content made here rather than copied from a file (the
/// cluster-ipam settings and the credentials from a Secret).
pub fn place_bytes(bytes: &[u8], dir: &Path, name: &str, mode: u32) -> io::Result<Placed> {
    if same_content(bytes, &dir.join(name), mode)? {
        return Ok(Placed::Unchanged);
    }
    replace(dir, name, mode, |to| to.write_all(bytes))
}

/// Writes a temp file in `dir` with `fill`, syncs it, renames it over
/// `dir/name`, syncs `dir`; on failure, the old file stays and the temp goes.
fn replace(dir: &Path, name: &str, mode: u32, fill: impl FnOnce(&mut File) -> io::Result<()>) -> io::Result<Placed> {
    let tmp = temp_name(dir, name);
    let written = write_synced(&tmp, mode, fill).and_then(|()| fs::rename(&tmp, dir.join(name)));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir)?;
    Ok(Placed::Written)
}

/// Removes `dir/name` whatever it holds (a file only railcni writes);
/// false if it was not there.
pub fn remove_owned(dir: &Path, name: &str) -> io::Result<bool> {
    let _ = fs::remove_file(temp_name(dir, name));
    match fs::remove_file(dir.join(name)) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
        Ok(()) => sync_dir(dir).map(|()| true),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Absent, or not byte-identical to ours: someone else's now.
    NotOurs,
    /// Ours, replaced by the backup of what was there before us.
    Restored,
    Deleted,
}

/// Removes `dir/name` if it is a regular file with the same bytes as `src`
/// (a file someone else put there since is not ours to remove), putting
/// back `backup/name` if there is one.
pub fn remove_if_same(src: &Path, dir: &Path, name: &str, backup: Option<&Path>) -> io::Result<Removal> {
    let dest = dir.join(name);
    if !same_file(src, &dest, None)? {
        return Ok(Removal::NotOurs);
    }
    if let Some(b) = backup
        && restore(dir, name, b)?
    {
        return Ok(Removal::Restored);
    }
    fs::remove_file(&dest)?;
    sync_dir(dir)?;
    Ok(Removal::Deleted)
}

/// Keeps the file or symlink at `dir/name` as `backup/name` (a hard link:
/// same filesystem, nothing copied), unless a backup of that name exists.
pub fn back_up(dir: &Path, name: &str, backup: &Path) -> io::Result<bool> {
    if fs::symlink_metadata(backup.join(name)).is_ok() {
        return Ok(false);
    }
    fs::create_dir_all(backup)?;
    fs::hard_link(dir.join(name), backup.join(name))?;
    sync_dir(backup)?;
    Ok(true)
}

/// Puts `backup/name` back as `dir/name`, atomically replacing what is
/// there; false if there is no backup.
fn restore(dir: &Path, name: &str, backup: &Path) -> io::Result<bool> {
    match fs::rename(backup.join(name), dir.join(name)) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        r => r?,
    }
    sync_dir(dir)?;
    sync_dir(backup)?;
    Ok(true)
}

/// The temporary name: hidden, fixed per target, so a copy interrupted by a
/// crash is overwritten by the next run instead of piling up.
fn temp_name(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.railcni-install.tmp"))
}

fn write_synced(tmp: &Path, mode: u32, fill: impl FnOnce(&mut File) -> io::Result<()>) -> io::Result<()> {
    match fs::remove_file(tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    // Created with `mode` from the start: a credential is never readable by others, not even briefly.
    let mut to = OpenOptions::new().write(true).create_new(true).mode(mode).open(tmp)?;
    fill(&mut to)?;
    // The umask may have cleared bits of `mode`.
    to.set_permissions(Permissions::from_mode(mode))?;
    to.sync_all()
}

pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Whether `dest` is a regular file with `src`'s bytes (and `mode`, if given).
/// A missing `dest` is simply not the same.
fn same_file(src: &Path, dest: &Path, mode: Option<u32>) -> io::Result<bool> {
    let meta = match fs::symlink_metadata(dest) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if !meta.is_file() || meta.len() != fs::metadata(src)?.len() {
        return Ok(false);
    }
    if mode.is_some_and(|m| meta.permissions().mode() & 0o7777 != m) {
        return Ok(false);
    }
    same_bytes(File::open(src)?, File::open(dest)?)
}

/// Whether `dest` is a regular file holding exactly `bytes`, with `mode`.
fn same_content(bytes: &[u8], dest: &Path, mode: u32) -> io::Result<bool> {
    let meta = match fs::symlink_metadata(dest) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if !meta.is_file() || meta.len() != bytes.len() as u64 || meta.permissions().mode() & 0o7777 != mode {
        return Ok(false);
    }
    Ok(fs::read(dest)? == bytes)
}

fn same_bytes(mut a: File, mut b: File) -> io::Result<bool> {
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n = read_full(&mut a, &mut ba)?;
        if n != read_full(&mut b, &mut bb)? || ba[..n] != bb[..n] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

/// Reads until `buf` is full or the file ends.
fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn writes_then_skips_then_replaces() {
        let t = tempfile::tempdir().unwrap();
        let dest = t.path().join("bin");
        fs::create_dir(&dest).unwrap();
        let v1 = file(t.path(), "v1", b"one");
        let v2 = file(t.path(), "v2", b"two");

        assert_eq!(place(&v1, &dest, "p", 0o755).unwrap(), Placed::Written);
        let ino = fs::metadata(dest.join("p")).unwrap();
        assert_eq!(ino.permissions().mode() & 0o7777, 0o755);
        assert_eq!(place(&v1, &dest, "p", 0o755).unwrap(), Placed::Unchanged);
        assert_eq!(place(&v2, &dest, "p", 0o755).unwrap(), Placed::Written);
        assert_eq!(fs::read(dest.join("p")).unwrap(), b"two");
        // Nothing but the target is left in the directory.
        let names: Vec<_> = fs::read_dir(&dest).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec!["p"]);
    }

    #[test]
    fn a_mode_change_alone_is_a_change() {
        let t = tempfile::tempdir().unwrap();
        let v1 = file(t.path(), "v1", b"one");
        let dest = t.path().join("p");
        fs::write(&dest, b"one").unwrap();
        fs::set_permissions(&dest, Permissions::from_mode(0o644)).unwrap();
        assert_eq!(place(&v1, t.path(), "p", 0o755).unwrap(), Placed::Written);
        assert_eq!(fs::metadata(&dest).unwrap().permissions().mode() & 0o7777, 0o755);
    }

    #[test]
    fn same_length_different_bytes_is_a_change() {
        let t = tempfile::tempdir().unwrap();
        let big_a = vec![b'a'; 200 * 1024];
        let mut big_b = big_a.clone();
        big_b[150 * 1024] = b'b';
        let a = file(t.path(), "a", &big_a);
        let b = file(t.path(), "b", &big_b);
        assert!(!same_file(&a, &b, None).unwrap());
        assert!(same_file(&a, &a, None).unwrap());
    }

    #[test]
    fn a_stale_temp_file_is_replaced() {
        let t = tempfile::tempdir().unwrap();
        let v1 = file(t.path(), "v1", b"one");
        file(t.path(), ".p.railcni-install.tmp", b"half");
        assert_eq!(place(&v1, t.path(), "p", 0o755).unwrap(), Placed::Written);
        assert!(!t.path().join(".p.railcni-install.tmp").exists());
    }

    #[test]
    fn back_up_keeps_the_first_and_restore_puts_it_back() {
        let t = tempfile::tempdir().unwrap();
        let backup = t.path().join(".backup");
        file(t.path(), "p", b"original");
        assert!(back_up(t.path(), "p", &backup).unwrap());
        // Replaced by a new inode, as place() does; the backup keeps the old one.
        fs::remove_file(t.path().join("p")).unwrap();
        file(t.path(), "p", b"second");
        assert!(!back_up(t.path(), "p", &backup).unwrap(), "a backup is never overwritten");
        assert!(restore(t.path(), "p", &backup).unwrap());
        assert_eq!(fs::read(t.path().join("p")).unwrap(), b"original");
        assert!(!restore(t.path(), "p", &backup).unwrap());
    }

    #[test]
    fn remove_only_what_is_still_ours() {
        let t = tempfile::tempdir().unwrap();
        let ours = file(t.path(), "ours", b"railcni");
        file(t.path(), "same", b"railcni");
        file(t.path(), "other", b"someone else's");
        assert_eq!(remove_if_same(&ours, t.path(), "same", None).unwrap(), Removal::Deleted);
        assert!(!t.path().join("same").exists());
        assert_eq!(remove_if_same(&ours, t.path(), "other", None).unwrap(), Removal::NotOurs);
        assert!(t.path().join("other").exists());
        assert_eq!(remove_if_same(&ours, t.path(), "missing", None).unwrap(), Removal::NotOurs);
    }
}
