//! 802.1Q / 802.1ad VLAN links, created directly in the pod namespace.

use crate::{Error, Netlink, VlanProtocol};
use rtnetlink::LinkVlan;

pub struct VlanSpec<'a> {
    pub name: &'a str,
    pub parent: u32,
    pub id: u16,
    pub protocol: VlanProtocol,
    pub ns_fd: Option<std::os::fd::RawFd>,
    pub mtu: Option<u32>,
}

impl Netlink {
    /// Create the VLAN device. EEXIST means the (parent, id, protocol) is
    /// taken: the kernel allows one such device, in any namespace.
    pub async fn add_vlan(&self, spec: &VlanSpec<'_>) -> Result<(), Error> {
        let mut b = LinkVlan::new(spec.name, spec.parent, spec.id).protocol(spec.protocol.to_wire());
        if let Some(fd) = spec.ns_fd {
            b = b.setns_by_fd(fd);
        }
        if let Some(mtu) = spec.mtu {
            b = b.mtu(mtu);
        }
        self.add_link(b.build(), &format!("creating VLAN {} on #{}", spec.id, spec.parent)).await
    }
}
