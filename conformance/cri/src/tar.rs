//! A minimal ustar writer: regular files only, owned by root, mtime 0. It
//! is all the pause image needs (one layer with one file, and the OCI
//! layout around it), and the same bytes come out on every run, so the
//! image's digests do not change between runs.

/// The archive of `files` (path, mode, content), in that order.
pub fn archive(files: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (path, mode, content) in files {
        out.extend_from_slice(&header(path, *mode, content.len()));
        out.extend_from_slice(content);
        out.resize(out.len().next_multiple_of(512), 0);
    }
    // The end of an archive: two zero blocks.
    out.resize(out.len() + 1024, 0);
    out
}

fn header(path: &str, mode: u32, size: usize) -> [u8; 512] {
    assert!(path.len() < 100, "tar: {path} needs a long-name entry");
    let mut h = [0u8; 512];
    h[..path.len()].copy_from_slice(path.as_bytes());
    octal(&mut h[100..108], mode as u64); // mode
    octal(&mut h[108..116], 0); // uid
    octal(&mut h[116..124], 0); // gid
    octal(&mut h[124..136], size as u64);
    octal(&mut h[136..148], 0); // mtime
    h[156] = b'0'; // a regular file
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    // The checksum is computed with its own field as spaces.
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    octal(&mut h[148..155], u64::from(sum));
    h
}

/// `value` in octal, zero-padded, NUL-terminated, filling `field`.
fn octal(field: &mut [u8], value: u64) {
    let digits = format!("{value:0width$o}", width = field.len() - 1);
    field[..digits.len()].copy_from_slice(digits.as_bytes());
    field[digits.len()] = 0;
}

#[cfg(test)]
mod tests {
    use super::archive;
    use std::process::Command;

    #[test]
    fn gnu_tar_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let tarball = dir.path().join("t.tar");
        std::fs::write(&tarball, archive(&[("a", 0o755, b"hello"), ("b/c", 0o644, &[7u8; 600])])).unwrap();
        let out = Command::new("tar").args(["-tvf"]).arg(&tarball).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let listing = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<Vec<&str>> = listing.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(lines[0], ["-rwxr-xr-x", "0/0", "5", "1970-01-01", "00:00", "a"], "{listing}");
        assert_eq!(lines[1], ["-rw-r--r--", "0/0", "600", "1970-01-01", "00:00", "b/c"], "{listing}");
    }
}
