//! ipvlan links, created directly in the pod namespace.
//!
//! The kernel keeps the mode and flags per master (the "port"), not per
//! link: creating a link rewrites them for every link on that master, and
//! every link reports the port's current values.

use crate::{Error, IpvlanFlag, IpvlanMode, LinkKind, Netlink};
use rtnetlink::LinkIpVlan;

/// An ipvlan to create: `name` on parent `parent` (an index in this
/// socket's namespace), placed in the namespace of `ns_fd` if given.
pub struct IpvlanSpec<'a> {
    pub name: &'a str,
    pub parent: u32,
    pub mode: IpvlanMode,
    pub flag: IpvlanFlag,
    pub ns_fd: Option<std::os::fd::RawFd>,
    pub mtu: Option<u32>,
}

impl Netlink {
    /// Create the link. EBUSY means the master already has another kind of
    /// receive handler (macvlan links, a bridge or bond port).
    pub async fn add_ipvlan(&self, spec: &IpvlanSpec<'_>) -> Result<(), Error> {
        let mut b = LinkIpVlan::new(spec.name, spec.parent, spec.mode.to_wire()).flag(spec.flag.to_wire());
        if let Some(fd) = spec.ns_fd {
            b = b.setns_by_fd(fd);
        }
        if let Some(mtu) = spec.mtu {
            b = b.mtu(mtu);
        }
        self.add_link(b.build(), &format!("creating ipvlan {} on #{}", spec.name, spec.parent)).await
    }

    /// The mode and flags of master `parent`'s port, read from an ipvlan
    /// link in this socket's namespace. `remote`: the master lives in another
    /// namespace (the link reports a link-netnsid) rather than in this one.
    pub async fn ipvlan_port(&self, parent: u32, remote: bool) -> Result<Option<(IpvlanMode, IpvlanFlag)>, Error> {
        let links = self.links().await?;
        Ok(links.into_iter().find_map(|l| match l.kind {
            LinkKind::Ipvlan { mode, flag } if l.link == Some(parent) && l.link_netnsid.is_some() == remote => {
                Some((mode, flag))
            }
            _ => None,
        }))
    }
}
