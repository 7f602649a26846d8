//! An attachment index, so that ADD, DEL and CHECK cost the same with 60,000
//! reservations as with none. The reference walks and reads every file.
//!
//! `.railcni/attachments/<containerID>@<ifname>` lists the addresses the
//! attachment holds. The reservation files stay the truth: every address read
//! from the index is checked against its reservation file before use.
//!
//! The index can miss reservations written by someone else (the reference
//! binary on a mixed node). To notice, every railcni operation ends by
//! "sealing": it sets the network directory's mtime to a fine-grained time of
//! its own choosing and records it in `.railcni/stamp`. Any entry created or
//! removed in the directory afterwards moves the mtime, so the next operation
//! sees a mismatch and rebuilds the index from a full scan. The stamp is
//! written last, so a crash at any point also leads to a rebuild.

use super::Store;
use super::fs::DirVersion;
use crate::error::Error;
use nix::time::{ClockId, clock_gettime};
use std::collections::BTreeMap;
use std::net::IpAddr;

const STAMP: &str = "stamp";

/// Who holds a reservation: `containerID\r\nifname`, or only `containerID` in
/// files written before host-local recorded the interface.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Owner {
    pub container_id: String,
    pub ifname: Option<String>,
}

impl Owner {
    pub fn new(container_id: &str, ifname: &str) -> Owner {
        Owner { container_id: container_id.trim().to_string(), ifname: Some(ifname.to_string()) }
    }

    pub fn legacy(container_id: &str) -> Owner {
        Owner { container_id: container_id.trim().to_string(), ifname: None }
    }

    /// The reference compares trimmed file content.
    pub fn parse(text: &str) -> Owner {
        match text.trim().split_once("\r\n") {
            Some((id, ifname)) => Owner::new(id, ifname),
            None => Owner::legacy(text),
        }
    }

    pub fn to_file(&self) -> String {
        match &self.ifname {
            Some(ifname) => format!("{}\r\n{ifname}", self.container_id),
            None => self.container_id.clone(),
        }
    }

    /// The index file name: readable where it can be, hashed where the
    /// owner (possibly written by another tool) would not make a safe name.
    fn index_name(&self) -> String {
        let name = format!("{}@{}", self.container_id, self.ifname.as_deref().unwrap_or(""));
        if name.len() <= 255 && !name.contains('/') && !name.contains('\0') {
            name
        } else {
            format!("~{:016x}", fnv1a(name.as_bytes()))
        }
    }
}

/// FNV-1a: stable across builds, unlike std's hasher, since names persist on disk.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// The reference's DEL walks every file below the network directory, and
/// its legacy fallback deletes any whose trimmed content equals the
/// container ID. An IP is a valid container ID, so a bare list could match;
/// the header (spaces, `#`) can never be a container ID.
const INDEX_HEADER: &str = "# railcni attachment index\n";

fn encode(ips: &[IpAddr]) -> String {
    INDEX_HEADER.to_string() + &ips.iter().map(|ip| format!("{ip}\n")).collect::<String>()
}

impl Store {
    /// Rebuild the index if the directory changed since the last seal.
    pub fn refresh_index(&self) -> Result<(), Error> {
        let current = self.dir.version()?;
        let sealed = self.meta.read_file(STAMP)?.and_then(|t| DirVersion::decode(&t));
        if sealed == Some(current) {
            return Ok(());
        }
        tracing::info!(dir = self.path(), "store changed outside railcni; rebuilding the attachment index");
        self.rebuild_index(&self.scan()?)
    }

    /// Make the index describe exactly `entries`, touching only files that differ.
    pub fn rebuild_index(&self, entries: &[(IpAddr, Owner)]) -> Result<(), Error> {
        let mut wanted: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
        for (ip, owner) in entries {
            wanted.entry(owner.index_name()).or_default().push(*ip);
        }
        for name in self.att.names()? {
            if !wanted.contains_key(&name) {
                self.att.remove(&name)?;
            }
        }
        for (name, ips) in &wanted {
            let text = encode(ips);
            if self.att.read_file(name)?.as_deref() != Some(text.as_str()) {
                self.write_index_file(name, &text)?;
            }
        }
        Ok(())
    }

    /// The addresses `owner` holds, each confirmed by its reservation file.
    pub fn held_by(&self, owner: &Owner) -> Result<Vec<IpAddr>, Error> {
        let Some(text) = self.att.read_file(&owner.index_name())? else {
            return Ok(Vec::new());
        };
        let mut held = Vec::new();
        for ip in text.lines().filter_map(|l| cni::net::parse_ip(l.trim())) {
            if self.owner(ip)?.as_ref() == Some(owner) {
                held.push(ip);
            }
        }
        Ok(held)
    }

    /// What an attachment holds, as the reference's DEL finds it: its own
    /// reservations, or failing those, the ID-only ones of files written
    /// before host-local recorded the ifname. Returns the owner they are under.
    pub fn attachment(&self, container_id: &str, ifname: &str) -> Result<(Owner, Vec<IpAddr>), Error> {
        let owner = Owner::new(container_id, ifname);
        let held = self.held_by(&owner)?;
        if !held.is_empty() {
            return Ok((owner, held));
        }
        let legacy = Owner::legacy(container_id);
        let held = self.held_by(&legacy)?;
        Ok((legacy, held))
    }

    /// Record that `owner` holds exactly `ips` (none: forget it).
    pub fn set_held(&self, owner: &Owner, ips: &[IpAddr]) -> Result<(), Error> {
        let name = owner.index_name();
        if ips.is_empty() {
            return self.att.remove(&name);
        }
        self.write_index_file(&name, &encode(ips))
    }

    fn write_index_file(&self, name: &str, text: &str) -> Result<(), Error> {
        let tmp = format!("index.{}", std::process::id());
        self.meta.write_file(&tmp, text.as_bytes())?;
        self.meta.rename_to(&tmp, &self.att, name)
    }

    /// End an operation: stamp the directory so that a later change by anyone else shows.
    ///
    /// The time is set explicitly, not with UTIME_NOW: the kernel's own
    /// timestamps are coarse (a clock tick), so a foreign change in the same
    /// tick could otherwise leave the mtime equal to the recorded one.
    pub fn seal(&self) -> Result<(), Error> {
        // The index must be on disk before a stamp that vouches for it is.
        self.att.sync()?;
        let now = clock_gettime(ClockId::CLOCK_REALTIME).map_err(|e| Error::io("reading the clock", e))?;
        let version = self.dir.set_mtime(now)?;
        let tmp = format!("stamp.{}", std::process::id());
        self.meta.write_file(&tmp, version.encode().as_bytes())?;
        self.meta.rename_to(&tmp, &self.meta, STAMP)?;
        self.meta.sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_round_trips_the_reference_format() {
        let o = Owner::new("c1", "eth0");
        assert_eq!(o.to_file(), "c1\r\neth0");
        assert_eq!(Owner::parse("c1\r\neth0\n"), o);
        assert_eq!(Owner::parse(" c1 \n"), Owner::legacy("c1"));
    }

    #[test]
    fn unsafe_owners_get_hashed_names() {
        assert_eq!(Owner::new("c1", "eth0").index_name(), "c1@eth0");
        assert!(Owner::legacy("a/b").index_name().starts_with('~'));
        assert!(Owner::legacy(&"x".repeat(300)).index_name().starts_with('~'));
    }
}
