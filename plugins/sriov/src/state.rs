//! The record of each attachment, one file per VF (`<dataDir>/<pci>.json`):
//! who holds the VF and everything DEL must put back. It is written before
//! the VF is changed, so a crash mid-ADD still leaves what DEL and GC need.
//! A per-VF flock (`<pci>.lock`) serialises ADD, DEL and GC on one VF.

use cni::{Error, Request};
use netlink::vf::{VfAttr, VfState};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// sriov-cni waits as long for the VF lock.
const LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// The VF's netdev as it was in the host namespace.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Netdev {
    pub name: String,
    pub mac: String,
    pub mtu: u32,
    pub up: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// The network (config `name`): GC only collects its own.
    pub network: String,
    #[serde(rename = "containerID")]
    pub container_id: String,
    pub ifname: String,
    pub netns: String,
    pub pci: String,
    pub pf: String,
    pub vf: u32,
    /// The VF's netdev before ADD; none in DPDK mode.
    pub netdev: Option<Netdev>,
    /// The PF's view of the VF before ADD.
    pub orig: VfState,
    /// Which attributes ADD sets (`VfAttr::key`); only these are restored.
    pub touched: Vec<String>,
}

impl Record {
    pub fn is_for(&self, req: &Request) -> bool {
        self.container_id == req.env.container_id && self.ifname == req.env.ifname
    }

    /// The original values of the touched attributes (restore.rs decides the order).
    pub fn restore_attrs(&self) -> Vec<VfAttr> {
        let o = &self.orig;
        let all = [
            VfAttr::Vlan { id: o.vlan, qos: o.qos, ad: o.proto == "802.1ad" },
            VfAttr::SpoofChk(o.spoofchk),
            VfAttr::Mac(netlink::parse_mac(&o.mac).unwrap_or_else(|| vec![0; 6])),
            VfAttr::Trust(o.trust),
            VfAttr::Rate { min: o.min_tx_rate, max: o.max_tx_rate },
            VfAttr::LinkState(o.link_state.clone()),
        ];
        all.into_iter().filter(|a| self.touched.iter().any(|t| t == a.key())).collect()
    }
}

pub struct Store {
    dir: PathBuf,
}

/// The VF lock, released on drop (or when the process exits).
pub struct Lock {
    _file: Flock<std::fs::File>,
}

impl Store {
    pub fn new(dir: &Path) -> Store {
        Store { dir: dir.to_path_buf() }
    }

    fn create_dir(&self) -> Result<(), Error> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(format!("creating {}", self.dir.display()), e))
    }

    fn path(&self, pci: &str) -> PathBuf {
        self.dir.join(format!("{pci}.json"))
    }

    /// Take the lock of VF `pci`, waiting up to a minute.
    pub fn lock(&self, pci: &str) -> Result<Lock, Error> {
        self.create_dir()?;
        let path = self.dir.join(format!("{pci}.lock"));
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        let start = Instant::now();
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => return Ok(Lock { _file: lock }),
                Err((f, nix::errno::Errno::EWOULDBLOCK)) if start.elapsed() < LOCK_TIMEOUT => {
                    file = f;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err((_, errno)) => {
                    return Err(Error::TryAgainLater {
                        msg: format!("VF {pci} is busy: could not lock {} ({errno})", path.display()),
                    });
                }
            }
        }
    }

    pub fn load(&self, pci: &str) -> Result<Option<Record>, Error> {
        let path = self.path(pci);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Internal { msg: format!("{} is not a railcni sriov record: {e}", path.display()) })
    }

    /// The temporary file of VF `pci`'s record (written under its lock).
    fn temp_path(&self, pci: &str) -> PathBuf {
        self.dir.join(format!(".{pci}.tmp"))
    }

    /// Write atomically (see `cni::statefile`), under the VF's lock.
    pub fn save(&self, rec: &Record) -> Result<(), Error> {
        self.create_dir()?;
        let path = self.path(&rec.pci);
        let json = serde_json::to_vec_pretty(rec).map_err(|e| Error::Internal { msg: e.to_string() })?;
        cni::statefile::write_atomic(&path, &self.temp_path(&rec.pci), &json)
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))
    }

    pub fn remove(&self, pci: &str) -> Result<(), Error> {
        let path = self.path(pci);
        cni::statefile::remove(&path).map_err(|e| Error::io(format!("removing {}", path.display()), e))
    }

    /// DEL: the temporary record an ADD of this attachment, killed before
    /// its rename, left behind (the VF was not touched yet). It is complete
    /// (written and fsync'd), so it names its attachment.
    pub fn discard_partial(&self, req: &Request) -> Result<(), Error> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(format!("reading {}", self.dir.display()), e)),
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pci) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else { continue };
            // Under the VF's lock: an ADD that is alive may be writing it.
            let _lock = self.lock(pci)?;
            let path = self.temp_path(pci);
            let partial = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<Record>(&b).ok());
            if partial.is_some_and(|r| r.is_for(req)) {
                cni::statefile::remove(&path).map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
            }
        }
        Ok(())
    }

    /// Every record, for GC and for DEL without a deviceID.
    pub fn all(&self) -> Result<Vec<Record>, Error> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(format!("reading {}", self.dir.display()), e)),
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pci) = name.strip_suffix(".json").filter(|p| !p.starts_with('.')) else { continue };
            // One unreadable file must not block every DEL and GC.
            match self.load(pci) {
                Ok(Some(rec)) => out.push(rec),
                Ok(None) => {}
                Err(e) => tracing::warn!("skipping {name}: {e}"),
            }
        }
        Ok(out)
    }

    /// The record of this request's attachment, if any.
    pub fn find(&self, req: &Request) -> Result<Option<Record>, Error> {
        Ok(self.all()?.into_iter().find(|r| r.is_for(req)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(pci: &str) -> Record {
        Record {
            network: "n".into(),
            container_id: "c".into(),
            ifname: "net1".into(),
            netns: "/run/netns/x".into(),
            pci: pci.into(),
            pf: "eth0".into(),
            vf: 1,
            netdev: Some(Netdev { name: "eth1".into(), mac: "02:00:00:00:00:01".into(), mtu: 1500, up: false }),
            orig: VfState { mac: "00:00:00:00:00:00".into(), vlan: 7, spoofchk: true, ..VfState::default() },
            touched: vec!["vlan/vlanQoS/vlanProto".into(), "spoofchk".into()],
        }
    }

    #[test]
    fn records_round_trip_and_a_bad_file_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(&dir.path().join("sriov"));
        assert_eq!(store.load("0000:01:10.0").unwrap(), None);
        store.save(&record("0000:01:10.0")).unwrap();
        std::fs::write(dir.path().join("sriov/0000:01:10.2.json"), b"{not json").unwrap();
        assert_eq!(store.load("0000:01:10.0").unwrap(), Some(record("0000:01:10.0")));
        assert_eq!(store.all().unwrap(), vec![record("0000:01:10.0")]);
        store.remove("0000:01:10.0").unwrap();
        store.remove("0000:01:10.0").unwrap();
        assert!(store.all().unwrap().is_empty());
    }

    #[test]
    fn only_touched_attributes_are_restored() {
        let attrs = record("0000:01:10.0").restore_attrs();
        assert_eq!(attrs, vec![VfAttr::Vlan { id: 7, qos: 0, ad: false }, VfAttr::SpoofChk(true)]);
    }

    #[test]
    fn the_vf_lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let held = store.lock("0000:01:10.0").unwrap();
        let path = dir.path().join("0000:01:10.0.lock");
        let again = std::fs::File::open(&path).unwrap();
        assert!(Flock::lock(again, FlockArg::LockExclusiveNonblock).is_err());
        drop(held);
        assert!(Flock::lock(std::fs::File::open(&path).unwrap(), FlockArg::LockExclusiveNonblock).is_ok());
    }
}
