//! Routes in any table, with scope, metric, source hint and ECMP next hops.

use crate::{Error, Netlink};
use ipnetwork::IpNetwork;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::AddressFamily;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope};
use rtnetlink::{RouteMessageBuilder, RouteNextHopBuilder};
use std::net::IpAddr;

/// Table ids the kernel reserves.
pub const TABLE_MAIN: u32 = 254;

/// A route to add, or one read back.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Route {
    pub dst: Option<IpNetwork>,
    pub gw: Option<IpAddr>,
    pub oif: Option<u32>,
    /// None means main (254).
    pub table: Option<u32>,
    /// RT_SCOPE_*: 0 universe, 253 link, 254 host.
    pub scope: Option<u8>,
    pub metric: Option<u32>,
    pub src: Option<IpAddr>,
    /// ECMP: more than one (gateway, interface) pair.
    pub nexthops: Vec<(IpAddr, u32)>,
    /// RTPROT_*; None adds with boot (3), as iproute2 does. Read back as the kernel says.
    pub protocol: Option<u8>,
}

impl Route {
    fn v4(&self) -> bool {
        self.dst.map(|d| d.is_ipv4()).or(self.gw.map(|g| g.is_ipv4())).unwrap_or(true)
    }

    fn message(&self) -> Result<RouteMessage, Error> {
        let bad =
            |e: &dyn std::fmt::Display| Error::Netlink { op: format!("building route {self:?}"), msg: e.to_string() };
        // RTPROT_BOOT, as iproute2 and the Go plugins leave it; the builder's default is static.
        let protocol = self.protocol.map_or(RouteProtocol::Boot, RouteProtocol::from);
        let mut b = RouteMessageBuilder::<IpAddr>::new().protocol(protocol);
        let dst =
            self.dst.unwrap_or_else(|| if self.v4() { "0.0.0.0/0".parse().unwrap() } else { "::/0".parse().unwrap() });
        b = b.destination_prefix(dst.network(), dst.prefix()).map_err(|e| bad(&e))?;
        if let Some(gw) = self.gw {
            b = b.gateway(gw).map_err(|e| bad(&e))?;
        }
        if let Some(src) = self.src {
            b = b.pref_source(src).map_err(|e| bad(&e))?;
        }
        if let Some(oif) = self.oif {
            b = b.output_interface(oif);
        }
        if let Some(t) = self.table {
            b = b.table_id(t);
        }
        if let Some(m) = self.metric {
            b = b.priority(m);
        }
        if let Some(s) = self.scope {
            b = b.scope(RouteScope::from(s));
        } else if self.gw.is_none() && self.nexthops.is_empty() {
            b = b.scope(RouteScope::Link);
        }
        if !self.nexthops.is_empty() {
            let family = if self.v4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
            let hops = self
                .nexthops
                .iter()
                .map(|(gw, oif)| RouteNextHopBuilder::new(family).interface(*oif).via(*gw).map(|h| h.build()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(&e))?;
            b = b.multipath(hops);
        }
        Ok(b.build())
    }

    fn from_message(m: RouteMessage) -> Route {
        let mut r = Route {
            table: Some(m.header.table as u32),
            scope: Some(u8::from(m.header.scope)),
            protocol: Some(u8::from(m.header.protocol)),
            ..Route::default()
        };
        let prefix = m.header.destination_prefix_length;
        let addr = |a: &RouteAddress| match a {
            RouteAddress::Inet(ip) => Some(IpAddr::V4(*ip)),
            RouteAddress::Inet6(ip) => Some(IpAddr::V6(*ip)),
            _ => None,
        };
        for attr in &m.attributes {
            match attr {
                RouteAttribute::Destination(a) => r.dst = addr(a).and_then(|ip| IpNetwork::new(ip, prefix).ok()),
                RouteAttribute::Gateway(a) => r.gw = addr(a),
                RouteAttribute::PrefSource(a) => r.src = addr(a),
                RouteAttribute::Oif(i) => r.oif = Some(*i),
                RouteAttribute::Table(t) => r.table = Some(*t),
                RouteAttribute::Priority(p) => r.metric = Some(*p),
                RouteAttribute::MultiPath(hops) => {
                    for h in hops {
                        let gw = h.attributes.iter().find_map(|a| match a {
                            RouteAttribute::Gateway(g) => addr(g),
                            _ => None,
                        });
                        if let Some(gw) = gw {
                            r.nexthops.push((gw, h.interface_index));
                        }
                    }
                }
                _ => {}
            }
        }
        if r.dst.is_none() {
            let any = if m.header.address_family == AddressFamily::Inet6 { "::/0" } else { "0.0.0.0/0" };
            r.dst = any.parse().ok();
        }
        r
    }
}

impl Netlink {
    pub async fn add_route(&self, route: &Route) -> Result<(), Error> {
        let op = format!("adding route {}", describe(route));
        self.ack(RouteNetlinkMessage::NewRoute(route.message()?), NLM_F_CREATE | NLM_F_EXCL, &op).await
    }

    /// Add `route`, or replace the one with its destination, table and metric.
    pub async fn replace_route(&self, route: &Route) -> Result<(), Error> {
        let op = format!("replacing route {}", describe(route));
        self.ack(RouteNetlinkMessage::NewRoute(route.message()?), NLM_F_CREATE | NLM_F_REPLACE, &op).await
    }

    /// Delete a route; already gone is fine.
    pub async fn delete_route(&self, route: &Route) -> Result<(), Error> {
        let op = format!("deleting route {}", describe(route));
        match self.ack(RouteNetlinkMessage::DelRoute(route.message()?), 0, &op).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    /// Routes of one family in `table` (every table with `None`).
    pub async fn routes(&self, v4: bool, table: Option<u32>) -> Result<Vec<Route>, Error> {
        let mut req = RouteMessage::default();
        req.header.address_family = if v4 { AddressFamily::Inet } else { AddressFamily::Inet6 };
        self.dump_map(RouteNetlinkMessage::GetRoute(req), "listing routes", |m| match m {
            RouteNetlinkMessage::NewRoute(r) => {
                Some(Route::from_message(r)).filter(|r| table.is_none() || r.table == table)
            }
            _ => None,
        })
        .await
    }
}

fn describe(r: &Route) -> String {
    let mut s = r.dst.map(|d| d.to_string()).unwrap_or_else(|| "default".into());
    if let Some(gw) = r.gw {
        s += &format!(" via {gw}");
    }
    for (gw, oif) in &r.nexthops {
        s += &format!(" nexthop via {gw} dev #{oif}");
    }
    if let Some(oif) = r.oif {
        s += &format!(" dev #{oif}");
    }
    if let Some(t) = r.table {
        s += &format!(" table {t}");
    }
    s
}
