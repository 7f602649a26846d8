//! The kernel keeps one ipvlan mode and flag per master (the "port"), and
//! creating a link rewrites them for every link on that master: an ADD with
//! another mode would silently switch other pods' networking. So ADD reads
//! the port's current mode from a live link before creating its own, and
//! refuses a mismatch.
//!
//! Links in pod namespaces are invisible from the host. Each ADD on a host
//! master therefore records its pod namespace in
//! `<stateDir>/<master index>/<containerID>@<ifname>`, and a later ADD reads
//! the mode from a live link in a recorded namespace. Records whose
//! namespace or link is gone are pruned on the way. A flock on the master's
//! directory makes check-and-create atomic among railcni ADDs.

use crate::config::Settings;
use cni::{Error, Request};
use netlink::{IpvlanFlag, IpvlanMode, Link, Netlink, Netns, Sockets};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};

#[derive(Serialize, Deserialize)]
struct Record {
    network: String,
    netns: String,
    /// The namespace's nsfs identity, so a reused path is not mistaken for it.
    ns_id: (u64, u64),
}

/// A host master's directory of records, locked until drop.
pub struct Port {
    dir: PathBuf,
    _lock: Flock<File>,
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::io(format!("stateDir: {what}"), e)
}

fn record_name(req: &Request) -> String {
    format!("{}@{}", req.env.container_id, req.env.ifname)
}

/// The temporary file a record is written to before its rename.
fn temp_name(record: &str) -> String {
    format!(".{record}.tmp")
}

/// The record name a file in a master's directory stands for: its own, or
/// that of the record it is the temporary file of. `None`: the lock.
fn attachment_of(file: &str) -> Option<&str> {
    match file.strip_prefix('.') {
        Some(tmp) => tmp.strip_suffix(".tmp"),
        None => Some(file),
    }
}

impl Port {
    pub fn lock(state_dir: &Path, master: &Link) -> Result<Port, Error> {
        let dir = state_dir.join(master.index.to_string());
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        let lock_path = dir.join(".lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(format!("opening {}", lock_path.display())))?;
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::io(format!("stateDir: locking {}", lock_path.display()), e.into()))?;
        Ok(Port { dir, _lock: lock })
    }

    /// The port's mode and flag, read from a live link in a recorded pod.
    /// Records that no longer lead to one are removed.
    pub async fn current(&self, ns: &Sockets, master: &Link) -> Result<Option<(IpvlanMode, IpvlanFlag)>, Error> {
        let entries = std::fs::read_dir(&self.dir).map_err(io(format!("listing {}", self.dir.display())))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name().to_str().is_none_or(|n| n.starts_with('.')) {
                continue;
            }
            match live_port(&path, ns, master).await {
                Some(port) => return Ok(Some(port)),
                None => {
                    tracing::debug!("ipvlan: pruning stale record {}", path.display());
                    let _ = cni::statefile::remove(&path);
                }
            }
        }
        Ok(None)
    }

    /// Record this attachment, atomically. The record goes again on drop
    /// unless the ADD keeps it. The temporary file is named after the
    /// attachment too: an ADD killed before the rename leaves it for DEL.
    pub fn record(&self, req: &Request, ns: &Sockets) -> Result<Recorded, Error> {
        let record = Record {
            network: req.conf.name.clone(),
            netns: req.env.netns.clone(),
            ns_id: ns.pod_ns.id().unwrap_or_default(),
        };
        let path = self.dir.join(record_name(req));
        let tmp = self.dir.join(temp_name(&record_name(req)));
        let json = serde_json::to_vec(&record).map_err(|e| Error::io("stateDir: encoding a record", e.into()))?;
        cni::statefile::write_atomic(&path, &tmp, &json).map_err(io(format!("writing {}", path.display())))?;
        Ok(Recorded { path, kept: false })
    }
}

/// The mode and flag of `master`'s port as a link in the recorded namespace reports them.
async fn live_port(path: &Path, ns: &Sockets, master: &Link) -> Option<(IpvlanMode, IpvlanFlag)> {
    let record: Record = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let pod = Netns::open(Path::new(&record.netns)).ok()?;
    if pod.id() != Some(record.ns_id) {
        return None;
    }
    let nl = Netlink::connect_in(&pod, &ns.home).ok()?;
    nl.ipvlan_port(master.index, true).await.ok()?
}

/// A written record, removed on drop unless [`Recorded::keep`] is called.
pub struct Recorded {
    path: PathBuf,
    kept: bool,
}

impl Recorded {
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Recorded {
    fn drop(&mut self) {
        if !self.kept {
            let _ = cni::statefile::remove(&self.path);
        }
    }
}

/// Refuse an ADD whose mode or flag differs from the port's current ones.
pub fn refuse_conflict(current: Option<(IpvlanMode, IpvlanFlag)>, s: &Settings, master: &Link) -> Result<(), Error> {
    let Some((mode, flag)) = current else {
        return Ok(());
    };
    let (field, have, want) = if mode != s.mode {
        ("mode", mode.name(), s.mode.name())
    } else if flag != s.flag {
        ("flag", flag.name(), s.flag.name())
    } else {
        return Ok(());
    };
    Err(Error::config(
        field,
        format!(
            "master {} already carries ipvlan links in {field} {have}; the kernel keeps one mode and flag per master, \
             so adding a link in {field} {want} would switch every other pod on it",
            master.name
        ),
    ))
}

/// DEL and GC: remove the records (and temporary files of records), in
/// every master's directory, whose name `select` picks and (if given) that
/// belong to `network`.
pub fn forget(state_dir: &Path, select: impl Fn(&str) -> bool, network: Option<&str>) -> Result<(), Error> {
    let masters = match std::fs::read_dir(state_dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(format!("listing {}", state_dir.display()))(e)),
    };
    for dir in masters.flatten() {
        let Ok(records) = std::fs::read_dir(dir.path()) else { continue };
        for entry in records.flatten() {
            let path = entry.path();
            if !entry.file_name().to_str().and_then(attachment_of).is_some_and(&select) {
                continue;
            }
            if let Some(network) = network {
                // Only records known to be this network's: GC never touches another's.
                let record = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<Record>(&b).ok());
                if record.is_none_or(|r| r.network != network) {
                    continue;
                }
            }
            cni::statefile::remove(&path).map_err(io(format!("removing {}", path.display())))?;
        }
    }
    Ok(())
}

/// DEL: this attachment's record.
pub fn forget_this(req: &Request, state_dir: &Path) -> Result<(), Error> {
    let mine = record_name(req);
    forget(state_dir, |name| name == mine, None)
}

/// GC: this network's records whose attachment is not in `valid`.
pub fn forget_stale(req: &Request, state_dir: &Path, valid: &[cni::gc::Attachment]) -> Result<(), Error> {
    let valid: Vec<String> = valid.iter().map(|a| format!("{}@{}", a.container_id, a.ifname)).collect();
    forget(state_dir, |name| !valid.iter().any(|v| v == name), Some(&req.conf.name))
}

#[cfg(test)]
mod tests {
    #[test]
    fn temporary_files_stand_for_their_record() {
        let tmp = super::temp_name("ctr@net1");
        assert_eq!(super::attachment_of(&tmp), Some("ctr@net1"));
        assert_eq!(super::attachment_of("ctr@net1"), Some("ctr@net1"));
        assert_eq!(super::attachment_of(".lock"), None);
    }
}
