//! Neighbour (ARP/NDP) entries.

use crate::{Error, Netlink, format_mac};
use netlink_packet_core::{NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    pub index: u32,
    pub ip: IpAddr,
    pub mac: String,
    pub permanent: bool,
}

impl Netlink {
    /// Add or replace a permanent entry `ip` → `mac` on link `index`.
    pub async fn set_neighbour(&self, index: u32, ip: IpAddr, mac: &[u8]) -> Result<(), Error> {
        let mut m = NeighbourMessage::default();
        m.header.ifindex = index;
        m.header.state = NeighbourState::Permanent;
        let (family, addr) = match ip {
            IpAddr::V4(v4) => (AddressFamily::Inet, NeighbourAddress::Inet(v4)),
            IpAddr::V6(v6) => (AddressFamily::Inet6, NeighbourAddress::Inet6(v6)),
        };
        m.header.family = family;
        m.attributes.push(NeighbourAttribute::Destination(addr));
        m.attributes.push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
        let op = format!("setting neighbour {ip} → {} on #{index}", format_mac(mac));
        self.ack(RouteNetlinkMessage::NewNeighbour(m), NLM_F_CREATE | NLM_F_REPLACE, &op).await
    }

    pub async fn neighbours(&self, index: Option<u32>) -> Result<Vec<Neighbour>, Error> {
        let replies =
            self.dump(RouteNetlinkMessage::GetNeighbour(NeighbourMessage::default()), "listing neighbours").await?;
        let mut out = Vec::new();
        for r in replies {
            let RouteNetlinkMessage::NewNeighbour(n) = r else { continue };
            if index.is_some_and(|i| i != n.header.ifindex) {
                continue;
            }
            let mut ip = None;
            let mut mac = String::new();
            for a in &n.attributes {
                match a {
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => ip = Some(IpAddr::V4(*v4)),
                    NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => ip = Some(IpAddr::V6(*v6)),
                    NeighbourAttribute::LinkLayerAddress(l) => mac = format_mac(l),
                    _ => {}
                }
            }
            if let Some(ip) = ip {
                out.push(Neighbour {
                    index: n.header.ifindex,
                    ip,
                    mac,
                    permanent: n.header.state == NeighbourState::Permanent,
                });
            }
        }
        Ok(out)
    }
}
