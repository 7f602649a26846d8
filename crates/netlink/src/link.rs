//! Links: lookup, creation (veth with the peer born in the pod namespace,
//! bridge), attributes, bridge ports and VLANs, deletion, and waiting for
//! a link to come up through link events.

use crate::LinkKind;
use crate::{Error, Netlink};
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{
    BridgeVlanInfoFlags, InfoBridgePort, InfoData, InfoPortData, InfoVeth, LinkAttribute, LinkFlags, LinkInfo,
    LinkMessage, State,
};
use rtnetlink::{LinkBridge, LinkBridgePort, LinkBridgeVlan, LinkMessageBuilder, LinkUnspec, LinkVeth};
use std::time::Duration;

/// What railcni needs to know about a link.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub kind: LinkKind,
    pub mac: String,
    pub mtu: u32,
    pub txqueuelen: u32,
    pub master: Option<u32>,
    pub admin_up: bool,
    pub oper_up: bool,
    pub promisc: bool,
    pub allmulti: bool,
    pub alias: String,
    /// IFLA_LINK: a veth's peer index, a macvlan's parent.
    pub link: Option<u32>,
    pub bridge_port: BridgePort,
    /// IFLA_LINK_NETNSID: `link` is an index in another namespace.
    pub link_netnsid: Option<i32>,
}

/// Bridge port attributes, read from IFLA_INFO_PORT_DATA.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BridgePort {
    pub hairpin: bool,
    pub isolated: bool,
}

impl Link {
    pub(crate) fn from_message(msg: LinkMessage) -> Link {
        let mut link = Link {
            index: msg.header.index,
            admin_up: msg.header.flags.contains(LinkFlags::Up),
            promisc: msg.header.flags.contains(LinkFlags::Promisc),
            allmulti: msg.header.flags.contains(LinkFlags::Allmulti),
            ..Link::default()
        };
        for attr in msg.attributes {
            match attr {
                LinkAttribute::IfName(n) => link.name = n,
                LinkAttribute::Address(a) => link.mac = format_mac(&a),
                LinkAttribute::Mtu(m) => link.mtu = m,
                LinkAttribute::TxQueueLen(q) => link.txqueuelen = q,
                LinkAttribute::Controller(m) => link.master = Some(m),
                LinkAttribute::OperState(s) => link.oper_up = s == State::Up,
                LinkAttribute::IfAlias(a) => link.alias = a,
                LinkAttribute::Link(l) => link.link = Some(l),
                LinkAttribute::LinkNetNsId(id) => link.link_netnsid = Some(id),
                LinkAttribute::LinkInfo(infos) => read_info(&mut link, infos),
                _ => {}
            }
        }
        link
    }
}

fn read_info(link: &mut Link, infos: Vec<LinkInfo>) {
    let mut kind = None;
    let mut data = None;
    for info in infos {
        match info {
            LinkInfo::Kind(k) => kind = Some(k.to_string()),
            LinkInfo::Data(d) => data = Some(d),
            LinkInfo::PortData(InfoPortData::BridgePort(attrs)) => {
                for a in attrs {
                    match a {
                        InfoBridgePort::HairpinMode(v) => link.bridge_port.hairpin = v,
                        InfoBridgePort::Isolated(v) => link.bridge_port.isolated = v,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(kind) = kind {
        link.kind = LinkKind::from_info(&kind, data.as_ref());
    }
}

pub fn format_mac(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// A random unicast, locally administered MAC.
pub fn random_mac() -> Result<Vec<u8>, Error> {
    let mut mac = vec![0u8; 6];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut mac))
        .map_err(|source| Error::Io { what: "reading /dev/urandom".into(), source })?;
    mac[0] = (mac[0] & 0xfe) | 0x02;
    Ok(mac)
}

/// Parse `aa:bb:cc:dd:ee:ff` (or with `-`), as Go's `net.ParseMAC` does for Ethernet.
pub fn parse_mac(s: &str) -> Option<Vec<u8>> {
    let bytes: Vec<u8> =
        s.split([':', '-']).map(|p| u8::from_str_radix(p, 16).ok().filter(|_| p.len() == 2)).collect::<Option<_>>()?;
    (bytes.len() == 6).then_some(bytes)
}

/// A veth pair: `name` in the socket's namespace, `peer` created directly in
/// the namespace of `peer_ns_fd` (no move, so its name can't clash on the host).
pub struct VethSpec<'a> {
    pub name: &'a str,
    pub peer: &'a str,
    pub peer_ns_fd: std::os::fd::RawFd,
    pub mtu: Option<u32>,
    pub peer_mac: Option<Vec<u8>>,
    /// Transmit queue length of both ends (the reference bridge creates them with 0).
    pub txqueuelen: Option<u32>,
}

/// Options for [`Netlink::ensure_bridge`].
#[derive(Debug, Clone, Default)]
pub struct BridgeSpec<'a> {
    pub name: &'a str,
    pub mtu: Option<u32>,
    pub vlan_filtering: bool,
    pub promisc: bool,
    /// Give a bridge we create a fixed MAC: an unpinned bridge takes the
    /// lowest port MAC, which changes as pods come and go.
    pub pin_mac: bool,
}

impl Netlink {
    async fn get_link(&self, msg: LinkMessage, what: &str) -> Result<Option<Link>, Error> {
        match self.request(RouteNetlinkMessage::GetLink(msg), 0, &format!("looking up link {what}")).await {
            Ok((replies, _)) => Ok(replies.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(Link::from_message(l)),
                _ => None,
            })),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn link_by_name(&self, name: &str) -> Result<Option<Link>, Error> {
        self.get_link(LinkUnspec::new_with_name(name).build(), name).await
    }

    pub async fn link_by_index(&self, index: u32) -> Result<Option<Link>, Error> {
        self.get_link(LinkUnspec::new_with_index(index).build(), &format!("#{index}")).await
    }

    /// `link_by_name`, but a missing link is an error naming it.
    pub async fn require_link(&self, name: &str) -> Result<Link, Error> {
        self.link_by_name(name).await?.ok_or_else(|| Error::NotFound { what: format!("link {name}") })
    }

    pub async fn links(&self) -> Result<Vec<Link>, Error> {
        self.dump_map(RouteNetlinkMessage::GetLink(LinkMessage::default()), "listing links", |m| match m {
            RouteNetlinkMessage::NewLink(l) => Some(Link::from_message(l)),
            _ => None,
        })
        .await
    }

    pub async fn link_by_alias(&self, alias: &str) -> Result<Option<Link>, Error> {
        Ok(self.links().await?.into_iter().find(|l| l.alias == alias))
    }

    /// Create a link; EEXIST comes back as an error with that errno.
    pub(crate) async fn add_link(&self, msg: LinkMessage, op: &str) -> Result<(), Error> {
        self.ack(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL, op).await
    }

    /// Change attributes of an existing link.
    pub(crate) async fn set_link(&self, msg: LinkMessage, op: &str) -> Result<(), Error> {
        self.ack(RouteNetlinkMessage::SetLink(msg), 0, op).await
    }

    pub async fn add_veth(&self, spec: &VethSpec<'_>) -> Result<(), Error> {
        let mut peer = LinkMessageBuilder::<LinkUnspec>::new().name(spec.peer.to_string()).setns_by_fd(spec.peer_ns_fd);
        if let Some(mtu) = spec.mtu {
            peer = peer.mtu(mtu);
        }
        if let Some(mac) = &spec.peer_mac {
            peer = peer.address(mac.clone());
        }
        if let Some(len) = spec.txqueuelen {
            peer = peer.txqueuelen(len);
        }
        let mut veth = LinkVeth::new(spec.name, spec.peer).set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())));
        if let Some(mtu) = spec.mtu {
            veth = veth.mtu(mtu);
        }
        if let Some(len) = spec.txqueuelen {
            veth = veth.txqueuelen(len);
        }
        self.add_link(veth.build(), &format!("creating veth {} with peer {}", spec.name, spec.peer)).await
    }

    /// Find or create a bridge, and bring it up. Concurrent creators are fine:
    /// losing the race (EEXIST) means someone else made it.
    pub async fn ensure_bridge(&self, spec: &BridgeSpec<'_>) -> Result<Link, Error> {
        let link = match self.link_by_name(spec.name).await? {
            Some(link) => link,
            None => {
                // Only ask for VLAN filtering when needed: kernels built without
                // it refuse the attribute even when it is false.
                let mut b = LinkBridge::new(spec.name);
                if let Some(mtu) = spec.mtu {
                    b = b.mtu(mtu);
                }
                if spec.pin_mac {
                    // Given at creation, the address is fixed from the first
                    // instant (NET_ADDR_SET): no port can change it in between.
                    b = b.address(random_mac()?);
                }
                match self.add_link(b.build(), &format!("creating bridge {}", spec.name)).await {
                    Err(e) if !e.is_exists() => return Err(e),
                    _ => {}
                }
                self.require_link(spec.name).await?
            }
        };
        if link.kind != LinkKind::Bridge {
            return Err(Error::Netlink {
                op: format!("using bridge {}", spec.name),
                msg: format!("{} already exists and is not a bridge (kind {:?})", spec.name, link.kind.name()),
            });
        }
        // Every ADD after the first finds the bridge up: no write then.
        if !link.admin_up || (spec.promisc && !link.promisc) {
            let mut set = LinkUnspec::new_with_index(link.index).up();
            if spec.promisc {
                set = set.promiscuous(true);
            }
            self.set_link(set.build(), &format!("bringing up bridge {}", spec.name)).await?;
        }
        if spec.vlan_filtering {
            let vf = LinkBridge::new(spec.name).vlan_filtering(true).index(link.index).build();
            self.set_link(vf, &format!("enabling VLAN filtering on {}", spec.name)).await?;
        }
        // What was just set, without another round trip.
        Ok(Link { admin_up: true, promisc: link.promisc || spec.promisc, ..link })
    }

    /// Set a link's MAC to the one it has now, so that it stops following its ports.
    pub async fn pin_mac(&self, name: &str) -> Result<(), Error> {
        let link = self.require_link(name).await?;
        match parse_mac(&link.mac) {
            Some(mac) => self.set_mac(link.index, mac).await,
            None => Ok(()),
        }
    }

    pub async fn set_up(&self, index: u32) -> Result<(), Error> {
        self.set_link(LinkUnspec::new_with_index(index).up().build(), &format!("setting link #{index} up")).await
    }

    pub async fn set_down(&self, index: u32) -> Result<(), Error> {
        self.set_link(LinkUnspec::new_with_index(index).down().build(), &format!("setting link #{index} down")).await
    }

    /// Attach to `master` and bring up, in one message.
    pub async fn set_master_up(&self, index: u32, master: u32) -> Result<(), Error> {
        let msg = LinkUnspec::new_with_index(index).controller(master).up().build();
        self.set_link(msg, &format!("attaching link #{index} to #{master} and setting it up")).await
    }

    pub async fn set_master(&self, index: u32, master: u32) -> Result<(), Error> {
        let msg = LinkUnspec::new_with_index(index).controller(master).build();
        self.set_link(msg, &format!("attaching link #{index} to #{master}")).await
    }

    pub async fn set_mac(&self, index: u32, mac: Vec<u8>) -> Result<(), Error> {
        let op = format!("setting the MAC of link #{index} to {}", format_mac(&mac));
        self.set_link(LinkUnspec::new_with_index(index).address(mac).build(), &op).await
    }

    pub async fn set_mtu(&self, index: u32, mtu: u32) -> Result<(), Error> {
        self.set_link(LinkUnspec::new_with_index(index).mtu(mtu).build(), &format!("setting MTU {mtu} on #{index}"))
            .await
    }

    pub async fn set_promisc(&self, index: u32, on: bool) -> Result<(), Error> {
        let op = format!("setting promiscuous mode {} on #{index}", if on { "on" } else { "off" });
        self.set_link(LinkUnspec::new_with_index(index).promiscuous(on).build(), &op).await
    }

    pub async fn set_allmulti(&self, index: u32, on: bool) -> Result<(), Error> {
        let op = format!("setting all-multicast mode {} on #{index}", if on { "on" } else { "off" });
        self.set_link(LinkUnspec::new_with_index(index).allmulticast(on).build(), &op).await
    }

    pub async fn set_txqueuelen(&self, index: u32, len: u32) -> Result<(), Error> {
        let op = format!("setting transmit queue length {len} on #{index}");
        self.set_link(LinkUnspec::new_with_index(index).txqueuelen(len).build(), &op).await
    }

    pub async fn set_name(&self, index: u32, name: &str) -> Result<(), Error> {
        self.set_link(
            LinkUnspec::new_with_index(index).name(name.to_string()).build(),
            &format!("renaming #{index} to {name}"),
        )
        .await
    }

    pub async fn set_alias(&self, index: u32, alias: &str) -> Result<(), Error> {
        self.set_link(LinkUnspec::new_with_index(index).alias(alias).build(), &format!("setting alias on #{index}"))
            .await
    }

    /// Move a link into another namespace, renaming it there in the same message.
    pub async fn move_to_netns(&self, index: u32, ns_fd: std::os::fd::RawFd, name: Option<&str>) -> Result<(), Error> {
        let mut msg = LinkUnspec::new_with_index(index).setns_by_fd(ns_fd);
        if let Some(name) = name {
            msg = msg.name(name.to_string());
        }
        self.set_link(msg.build(), &format!("moving link #{index} to another namespace")).await
    }

    /// Delete a link. A link that is already gone is not an error.
    pub async fn delete_link(&self, index: u32) -> Result<(), Error> {
        let msg = RouteNetlinkMessage::DelLink(LinkUnspec::new_with_index(index).build());
        match self.ack(msg, 0, &format!("deleting link #{index}")).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    /// Set bridge port attributes of `index` (which must be a bridge port).
    pub async fn set_bridge_port(&self, index: u32, hairpin: bool, isolated: bool) -> Result<(), Error> {
        let msg =
            LinkBridgePort::new(index).hairpin(hairpin).append_info_data(InfoBridgePort::Isolated(isolated)).build();
        // Port (slave) data is only applied by RTM_NEWLINK on an existing link, not RTM_SETLINK.
        self.ack(RouteNetlinkMessage::NewLink(msg), 0, &format!("setting bridge port options on #{index}")).await
    }

    /// Add VLAN `vid` on bridge port `index` (a range when `to` is given).
    pub async fn bridge_vlan_add(
        &self,
        index: u32,
        vid: u16,
        to: Option<u16>,
        pvid_untagged: bool,
    ) -> Result<(), Error> {
        let flags = if pvid_untagged {
            BridgeVlanInfoFlags::Pvid | BridgeVlanInfoFlags::Untagged
        } else {
            BridgeVlanInfoFlags::empty()
        };
        let msg = match to {
            Some(end) if end > vid => {
                LinkBridgeVlan::new(index).vlan_range_start(vid, flags).vlan_range_end(end, flags)
            }
            _ => LinkBridgeVlan::new(index).vlan(vid, flags),
        };
        self.set_link(msg.build(), &format!("adding VLAN {vid} to bridge port #{index}")).await
    }

    /// Remove VLAN `vid` from bridge port `index`.
    pub async fn bridge_vlan_del(&self, index: u32, vid: u16) -> Result<(), Error> {
        let msg = LinkBridgeVlan::new(index).vlan(vid, BridgeVlanInfoFlags::empty()).build();
        self.ack(RouteNetlinkMessage::DelLink(msg), 0, &format!("removing VLAN {vid} from #{index}")).await
    }

    /// VLANs configured on bridge port `index`: (vid, pvid, untagged).
    pub async fn bridge_vlans(&self, index: u32) -> Result<Vec<(u16, bool, bool)>, Error> {
        use netlink_packet_route::AddressFamily;
        use netlink_packet_route::link::{AfSpecBridge, LinkExtentMask};
        let mut msg = LinkMessage::default();
        msg.header.interface_family = AddressFamily::Bridge;
        msg.attributes.push(LinkAttribute::ExtMask(vec![LinkExtentMask::Brvlan]));
        let replies = self.dump(RouteNetlinkMessage::GetLink(msg), "listing bridge VLANs").await?;
        let mut out = Vec::new();
        for m in replies {
            let RouteNetlinkMessage::NewLink(l) = m else { continue };
            if l.header.index != index {
                continue;
            }
            for attr in l.attributes {
                let LinkAttribute::AfSpecBridge(specs) = attr else { continue };
                for s in specs {
                    if let AfSpecBridge::VlanInfo(v) = s {
                        out.push((
                            v.vid,
                            v.flags.contains(BridgeVlanInfoFlags::Pvid),
                            v.flags.contains(BridgeVlanInfoFlags::Untagged),
                        ));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Wait until link `index` is operationally up, on link events rather
    /// than a sleep loop. A link that is up already costs one read, not an
    /// event socket. Otherwise the subscription starts before the link is
    /// read again, so a change between that read and the wait is still seen.
    pub async fn wait_oper_up(&self, index: u32, timeout: Duration) -> Result<Link, Error> {
        if let Some(up) = self.link_by_index(index).await?.filter(|l| l.oper_up) {
            return Ok(up);
        }
        let mut sub = self.link_events()?;
        self.wait_with(&mut sub.events, index, timeout).await
    }

    pub(crate) async fn wait_with(
        &self,
        events: &mut crate::socket::Events,
        index: u32,
        timeout: Duration,
    ) -> Result<Link, Error> {
        use futures_util::StreamExt;
        use netlink_packet_core::NetlinkPayload;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let link =
                self.link_by_index(index).await?.ok_or_else(|| Error::NotFound { what: format!("link #{index}") })?;
            if link.oper_up {
                return Ok(link);
            }
            // Wait for any event about this link, then re-read it (an event may be partial).
            loop {
                match tokio::time::timeout_at(deadline, events.next()).await {
                    Err(_) => return Err(Error::Timeout { what: format!("{} to become operationally up", link.name) }),
                    Ok(None) => {
                        return Err(Error::Netlink {
                            op: "waiting for link events".into(),
                            msg: "socket closed".into(),
                        });
                    }
                    Ok(Some((msg, _))) => match msg.payload {
                        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) if l.header.index == index => {
                            break;
                        }
                        // Events were lost (the buffer overflowed): ours may be among them.
                        NetlinkPayload::Overrun(_) => break,
                        _ => {}
                    },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse_like_go() {
        assert_eq!(parse_mac("0A:58:0a:00:00:02"), Some(vec![0x0a, 0x58, 0x0a, 0, 0, 2]));
        assert_eq!(parse_mac("0a-58-0a-00-00-02").map(|m| format_mac(&m)), Some("0a:58:0a:00:00:02".into()));
        assert_eq!(parse_mac("0a:58:0a:00:00"), None);
        assert_eq!(parse_mac("0a:58:0a:00:00:2"), None);
        assert_eq!(parse_mac("zz:58:0a:00:00:02"), None);
    }
}
