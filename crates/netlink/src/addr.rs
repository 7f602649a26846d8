//! Interface addresses.

use crate::{Error, Netlink};
use ipnetwork::IpNetwork;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage, AddressScope};
use rtnetlink::AddressMessageBuilder;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address on a link.
#[derive(Debug, Clone, PartialEq)]
pub struct Addr {
    pub index: u32,
    pub cidr: IpNetwork,
    /// Global scope (not link-local or host).
    pub global: bool,
}

fn message(index: u32, cidr: IpNetwork) -> AddressMessage {
    match cidr.ip() {
        IpAddr::V4(ip) => AddressMessageBuilder::<Ipv4Addr>::new().index(index).address(ip, cidr.prefix()).build(),
        IpAddr::V6(ip) => AddressMessageBuilder::<Ipv6Addr>::new().index(index).address(ip, cidr.prefix()).build(),
    }
}

impl Netlink {
    /// Add `cidr` to link `index`. `nodad` skips IPv6 duplicate address
    /// detection, so the address is usable at once instead of seconds later.
    pub async fn add_address(&self, index: u32, cidr: IpNetwork, nodad: bool) -> Result<(), Error> {
        let mut msg = message(index, cidr);
        if nodad && cidr.is_ipv6() {
            msg.attributes.push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        let op = format!("adding address {cidr} to link #{index}");
        self.ack(RouteNetlinkMessage::NewAddress(msg), NLM_F_CREATE | NLM_F_EXCL, &op).await
    }

    /// Remove `cidr` from link `index`; already gone is fine.
    pub async fn delete_address(&self, index: u32, cidr: IpNetwork) -> Result<(), Error> {
        let op = format!("removing address {cidr} from link #{index}");
        match self.ack(RouteNetlinkMessage::DelAddress(message(index, cidr)), 0, &op).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    /// Addresses, of one link or of all.
    pub async fn addresses(&self, index: Option<u32>) -> Result<Vec<Addr>, Error> {
        let replies =
            self.dump(RouteNetlinkMessage::GetAddress(AddressMessage::default()), "listing addresses").await?;
        let mut out = Vec::new();
        for m in replies {
            let RouteNetlinkMessage::NewAddress(a) = m else { continue };
            if index.is_some_and(|i| i != a.header.index) {
                continue;
            }
            // IFA_LOCAL is the interface's own address on point-to-point links; prefer it.
            let local = a.attributes.iter().find_map(|at| match at {
                AddressAttribute::Local(ip) => Some(*ip),
                _ => None,
            });
            let addr = local.or_else(|| {
                a.attributes.iter().find_map(|at| match at {
                    AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                })
            });
            let Some(ip) = addr else { continue };
            let Ok(cidr) = IpNetwork::new(ip, a.header.prefix_len) else { continue };
            out.push(Addr { index: a.header.index, cidr, global: a.header.scope == AddressScope::Universe });
        }
        Ok(out)
    }
}
