//! Finding the device on the host, by whichever key the config gives.

use crate::config::Selector;
use attach::{Error, Result};
use netlink::sriov_sysfs::{Sysfs, USERSPACE_DRIVERS};
use netlink::{Link, Netlink};

pub enum Found {
    /// A netdev to move into the pod; its PCI address, when selected by one.
    Netdev { link: Link, pci: Option<String> },
    /// A PCI device bound to a userspace (DPDK) driver: nothing moves.
    Dpdk { pci: String },
}

/// The device `sel` names; not found is code 7 naming `field`, the key that named it.
pub async fn find(sel: &Selector, field: &str, host: &Netlink) -> Result<Found> {
    let sysfs = Sysfs::default();
    let missing = |what: String| Error::config(field, format!("{what} not found on the host"));
    let name = match sel {
        Selector::Name(name) => name.clone(),
        Selector::Mac(mac) => {
            let link = host.links().await?.into_iter().find(|l| netlink::parse_mac(&l.mac).as_ref() == Some(mac));
            let link = link.ok_or_else(|| missing(format!("a link with MAC {}", netlink::format_mac(mac))))?;
            return netdev(link, field, None);
        }
        Selector::KernelPath(path) => {
            Sysfs::netdev_at(path)?.ok_or_else(|| missing(format!("a netdev under {}", path.display())))?
        }
        Selector::Pci(pci) => {
            if !sysfs.exists(pci) {
                return Err(missing(format!("PCI device {pci}")));
            }
            if sysfs.driver(pci).is_some_and(|d| USERSPACE_DRIVERS.contains(&d.as_str())) {
                return Ok(Found::Dpdk { pci: pci.clone() });
            }
            let name = sysfs.pci_netdev(pci)?.ok_or_else(|| missing(format!("a netdev of PCI device {pci}")))?;
            let link = host.link_by_name(&name).await?.ok_or_else(|| missing(format!("link {name}")))?;
            return netdev(link, field, Some(pci.clone()));
        }
        Selector::Auxiliary(aux) => {
            sysfs.aux_netdev(aux)?.ok_or_else(|| missing(format!("a netdev of auxiliary device {aux}")))?
        }
    };
    let link = host.link_by_name(&name).await?.ok_or_else(|| missing(format!("link {name}")))?;
    netdev(link, field, None)
}

fn netdev(link: Link, field: &str, pci: Option<String>) -> Result<Found> {
    // The loopback device is always ifindex 1, and cannot leave its namespace.
    if link.index == 1 {
        return Err(Error::config(field, format!("{} is the loopback device", link.name)));
    }
    Ok(Found::Netdev { link, pci })
}
