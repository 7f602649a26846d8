//! macvlan links, created directly in the pod namespace.

use crate::{Error, MacvlanMode, Netlink};
use netlink_packet_route::link::InfoMacVlan;
use rtnetlink::LinkMacVlan;

/// A macvlan to create: `name` on parent `parent` (an index in this
/// socket's namespace), placed in the namespace of `ns_fd` if given.
pub struct MacvlanSpec<'a> {
    pub name: &'a str,
    pub parent: u32,
    pub mode: MacvlanMode,
    pub ns_fd: Option<std::os::fd::RawFd>,
    pub mtu: Option<u32>,
    pub mac: Option<Vec<u8>>,
    pub bc_queue_len: Option<u32>,
}

impl Netlink {
    pub async fn add_macvlan(&self, spec: &MacvlanSpec<'_>) -> Result<(), Error> {
        let mut b = LinkMacVlan::new(spec.name, spec.parent, spec.mode.to_wire());
        if let Some(q) = spec.bc_queue_len {
            b = b.append_info_data(InfoMacVlan::BcQueueLen(q));
        }
        if let Some(fd) = spec.ns_fd {
            b = b.setns_by_fd(fd);
        }
        if let Some(mtu) = spec.mtu {
            b = b.mtu(mtu);
        }
        if let Some(mac) = &spec.mac {
            b = b.address(mac.clone());
        }
        self.add_link(b.build(), &format!("creating macvlan {} on #{}", spec.name, spec.parent)).await
    }

    /// The interface of the first default route in the main table, IPv4
    /// before IPv6 (the reference's default `master`; IPv6-only nodes too).
    pub async fn default_route_link(&self) -> Result<Option<crate::Link>, Error> {
        let mut routes = self.routes(true, Some(crate::TABLE_MAIN)).await?;
        routes.extend(self.routes(false, Some(crate::TABLE_MAIN)).await?);
        let oif = routes.iter().filter(|r| r.dst.is_some_and(|d| d.prefix() == 0)).find_map(|r| r.oif);
        match oif {
            Some(i) => self.link_by_index(i).await,
            None => Ok(None),
        }
    }
}
