//! Finding an SR-IOV VF from its PCI address through sysfs: its PF, its index
//! on the PF, its netdev (none in DPDK mode) and its driver.
//!
//! `/sys/bus/pci/devices/<vf>/net/` lists only netdevs in the reader's own
//! namespace, so an empty `net/` with a kernel driver means "the netdev is in
//! another namespace", which is how DEL tells a VF still in a pod from one the
//! kernel has returned.

use crate::Error;
use std::path::{Path, PathBuf};

/// Points the lookups at a fake sysfs tree. For tests only.
pub const SYSFS_ROOT_ENV: &str = "RAILCNI_SYSFS_ROOT";

/// Drivers that hand the VF to userspace (DPDK): no netdev to move.
pub const USERSPACE_DRIVERS: [&str; 3] = ["vfio-pci", "uio_pci_generic", "igb_uio"];

/// `0000:03:02.3`: domain, bus, device, function (lower-case hex, as sysfs names them).
pub fn is_pci_address(s: &str) -> bool {
    let b = s.as_bytes();
    let hex = |r: std::ops::Range<usize>| b[r].iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c));
    b.len() == 12 && hex(0..4) && b[4] == b':' && hex(5..7) && b[7] == b':' && hex(8..10) && b[10] == b'.' && {
        (b'0'..=b'7').contains(&b[11])
    }
}

/// A VF as sysfs shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Vf {
    pub pci: String,
    /// The PF's netdev name.
    pub pf: String,
    /// N of the PF's `virtfnN`: the VF number in `IFLA_VF_*`.
    pub index: u32,
    /// The VF's netdev in this namespace, if any.
    pub netdev: Option<String>,
    /// The bound driver (`igbvf`, `vfio-pci`, …), if any.
    pub driver: Option<String>,
}

impl Vf {
    /// Bound to vfio-pci, uio_pci_generic or igb_uio.
    pub fn is_dpdk(&self) -> bool {
        self.driver.as_deref().is_some_and(|d| USERSPACE_DRIVERS.contains(&d))
    }
}

#[derive(Debug, Clone)]
pub struct Sysfs {
    root: PathBuf,
}

impl Default for Sysfs {
    /// `/sys`, or the test override.
    fn default() -> Sysfs {
        let root = std::env::var_os(SYSFS_ROOT_ENV).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/sys"));
        Sysfs { root }
    }
}

impl Sysfs {
    pub fn at(root: &Path) -> Sysfs {
        Sysfs { root: root.to_path_buf() }
    }

    fn device(&self, pci: &str) -> PathBuf {
        self.root.join("bus/pci/devices").join(pci)
    }

    /// Resolve the VF at `pci`: it must exist and have a PF with a netdev.
    pub fn vf(&self, pci: &str) -> Result<Vf, Error> {
        let dev = self.device(pci);
        if !dev.exists() {
            return Err(Error::NotFound { what: format!("PCI device {pci} ({})", dev.display()) });
        }
        let physfn = dev.join("physfn");
        if !physfn.exists() {
            return Err(Error::NotFound { what: format!("{pci} is not an SR-IOV VF: {}", physfn.display()) });
        }
        let pf = first_entry(&physfn.join("net"))?
            .ok_or_else(|| Error::NotFound { what: format!("a netdev of the PF of {pci}") })?;
        let index = vf_index(&physfn, pci)?;
        Ok(Vf { pci: pci.to_string(), pf, index, netdev: self.netdev(pci)?, driver: self.driver(pci) })
    }

    /// The PCI device is there (a VF disappears when its PF's VFs are disabled).
    pub fn exists(&self, pci: &str) -> bool {
        self.device(pci).exists()
    }

    /// The VF's netdev in this namespace, if it has one here.
    pub fn netdev(&self, pci: &str) -> Result<Option<String>, Error> {
        first_entry(&self.device(pci).join("net"))
    }

    /// The netdev of PCI device `pci`, or of its virtio child (`virtio*/net`),
    /// as host-device's `pciBusID` finds it.
    pub fn pci_netdev(&self, pci: &str) -> Result<Option<String>, Error> {
        if let Some(name) = self.netdev(pci)? {
            return Ok(Some(name));
        }
        let dev = self.device(pci);
        if !dev.exists() {
            return Ok(None);
        }
        for entry in read_dir(&dev)? {
            if entry.file_name().to_string_lossy().starts_with("virtio")
                && let Some(name) = first_entry(&entry.path().join("net"))?
            {
                return Ok(Some(name));
            }
        }
        Ok(None)
    }

    /// The netdev of auxiliary-bus device `name` (`mlx5_core.sf.4`, say).
    pub fn aux_netdev(&self, name: &str) -> Result<Option<String>, Error> {
        first_entry(&self.root.join("bus/auxiliary/devices").join(name).join("net"))
    }

    /// The netdev of the device at `path`, a sysfs device directory (host-device's `kernelpath`).
    pub fn netdev_at(path: &Path) -> Result<Option<String>, Error> {
        first_entry(&path.join("net"))
    }

    pub fn driver(&self, pci: &str) -> Option<String> {
        let target = std::fs::read_link(self.device(pci).join("driver")).ok()?;
        target.file_name().map(|n| n.to_string_lossy().into_owned())
    }
}

/// N such that `<pf>/virtfnN` links to `pci`.
fn vf_index(pf_dev: &Path, pci: &str) -> Result<u32, Error> {
    for entry in read_dir(pf_dev)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(n) = name.strip_prefix("virtfn").and_then(|n| n.parse::<u32>().ok()) else { continue };
        let target = std::fs::read_link(entry.path()).ok();
        if target.as_deref().and_then(Path::file_name).is_some_and(|t| t == pci) {
            return Ok(n);
        }
    }
    Err(Error::NotFound { what: format!("a virtfnN link to {pci} in {}", pf_dev.display()) })
}

fn read_dir(dir: &Path) -> Result<Vec<std::fs::DirEntry>, Error> {
    let io = |source| Error::Io { what: format!("reading {}", dir.display()), source };
    std::fs::read_dir(dir).map_err(io)?.collect::<Result<Vec<_>, _>>().map_err(io)
}

/// The alphabetically first entry of `dir`; none if `dir` is missing or empty.
fn first_entry(dir: &Path) -> Result<Option<String>, Error> {
    if !dir.exists() {
        return Ok(None);
    }
    let mut names: Vec<String> =
        read_dir(dir)?.into_iter().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    Ok(names.into_iter().next())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A PF 0000:af:00.1 (`enp1`) with VF0 0000:af:06.0 on igbvf (`enp1v0`)
    /// and VF1 0000:af:06.1 on vfio-pci (no netdev), laid out as sysfs does.
    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let devs = t.path().join("devices/pci0000:00");
        let bus = t.path().join("bus/pci/devices");
        let drivers = t.path().join("bus/pci/drivers");
        for d in [&bus, &drivers.join("igbvf"), &drivers.join("vfio-pci")] {
            std::fs::create_dir_all(d).unwrap();
        }
        let pf = devs.join("0000:af:00.1");
        std::fs::create_dir_all(pf.join("net/enp1")).unwrap();
        symlink(&pf, bus.join("0000:af:00.1")).unwrap();
        for (n, pci, driver, netdev) in
            [(0, "0000:af:06.0", "igbvf", Some("enp1v0")), (1, "0000:af:06.1", "vfio-pci", None)]
        {
            let vf = devs.join(pci);
            std::fs::create_dir_all(&vf).unwrap();
            if let Some(nd) = netdev {
                std::fs::create_dir_all(vf.join("net").join(nd)).unwrap();
            }
            symlink(&pf, vf.join("physfn")).unwrap();
            symlink(drivers.join(driver), vf.join("driver")).unwrap();
            symlink(&vf, pf.join(format!("virtfn{n}"))).unwrap();
            symlink(&vf, bus.join(pci)).unwrap();
        }
        t
    }

    #[test]
    fn a_vf_resolves_to_its_pf_index_netdev_and_driver() {
        let t = tree();
        let sys = Sysfs::at(t.path());
        let vf = sys.vf("0000:af:06.0").unwrap();
        assert_eq!((vf.pf.as_str(), vf.index, vf.netdev.as_deref()), ("enp1", 0, Some("enp1v0")));
        assert!(!vf.is_dpdk());
        let dpdk = sys.vf("0000:af:06.1").unwrap();
        assert_eq!((dpdk.index, dpdk.netdev.as_deref(), dpdk.driver.as_deref()), (1, None, Some("vfio-pci")));
        assert!(dpdk.is_dpdk());
    }

    #[test]
    fn a_pf_or_a_missing_device_is_not_a_vf() {
        let t = tree();
        let sys = Sysfs::at(t.path());
        assert!(sys.vf("0000:af:00.1").unwrap_err().to_string().contains("not an SR-IOV VF"));
        assert!(sys.vf("0000:af:07.0").unwrap_err().is_not_found());
    }

    #[test]
    fn pci_addresses_are_checked_before_they_become_paths() {
        assert!(is_pci_address("0000:03:02.3"));
        assert!(!is_pci_address("0000:03:02.8"));
        assert!(!is_pci_address("0000:03:02"));
        assert!(!is_pci_address("../../../etc"));
        assert!(!is_pci_address("0000:0G:02.3"));
    }
}
