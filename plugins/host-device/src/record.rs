//! The record of each attachment (`<dataDir>/<containerID>_<ifname>.json`):
//! the device as it was on the host, so DEL can put it back by itself,
//! after a rename in the pod, with the netns gone, or with the original
//! name taken. It is written (atomic and durable) before the device moves.

use cni::{Error, Request, statefile};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub network: String,
    #[serde(rename = "containerID")]
    pub container_id: String,
    pub ifname: String,
    pub netns: String,
    /// The device on the host before ADD.
    pub name: String,
    pub mac: String,
    pub mtu: u32,
    pub up: bool,
    /// The kernel's kind (`veth`, …; empty for a physical device), for CHECK.
    pub kind: String,
    /// Its PCI address, when it has one: how a physical device the kernel
    /// returned from a dead netns is found whatever its name.
    pub pci: Option<String>,
}

pub struct Store {
    path: PathBuf,
    tmp: PathBuf,
}

impl Store {
    pub fn of(data_dir: &Path, req: &Request) -> Store {
        let name = format!("{}_{}.json", req.env.container_id, req.env.ifname);
        Store { path: data_dir.join(&name), tmp: data_dir.join(format!(".{name}.tmp")) }
    }

    pub fn load(&self) -> Result<Option<Record>, Error> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(format!("reading {}", self.path.display()), e)),
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| Error::Internal {
            msg: format!("{} is not a railcni host-device record: {e}", self.path.display()),
        })
    }

    pub fn save(&self, rec: &Record) -> Result<(), Error> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let json = serde_json::to_vec_pretty(rec).map_err(|e| Error::Internal { msg: e.to_string() })?;
        statefile::write_atomic(&self.path, &self.tmp, &json)
            .map_err(|e| Error::io(format!("writing {}", self.path.display()), e))
    }

    /// Remove the record and a temporary one a killed ADD left (it moved nothing yet).
    pub fn remove(&self) -> Result<(), Error> {
        for path in [&self.tmp, &self.path] {
            statefile::remove(path).map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store { path: dir.path().join("c_net1.json"), tmp: dir.path().join(".c_net1.json.tmp") };
        assert_eq!(store.load().unwrap(), None);
        let rec = Record {
            network: "n".into(),
            container_id: "c".into(),
            ifname: "net1".into(),
            netns: "/run/netns/p".into(),
            name: "ens1f0".into(),
            mac: "02:00:00:00:00:01".into(),
            mtu: 9000,
            up: true,
            kind: String::new(),
            pci: Some("0000:af:00.0".into()),
        };
        store.save(&rec).unwrap();
        assert_eq!(store.load().unwrap(), Some(rec));
        store.remove().unwrap();
        store.remove().unwrap();
        assert_eq!(store.load().unwrap(), None);
    }
}
