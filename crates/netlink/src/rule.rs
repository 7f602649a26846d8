//! Policy routing rules (`ip rule`): `from`/`to` selectors, interfaces, priority, table.

use crate::{Error, Netlink};
use ipnetwork::IpNetwork;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rule {
    pub v6: bool,
    pub priority: Option<u32>,
    pub from: Option<IpNetwork>,
    pub to: Option<IpNetwork>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub table: u32,
    /// `lookup [l3mdev-table]`: the rule the kernel adds for the first VRF of a namespace.
    pub l3mdev: bool,
}

impl Rule {
    fn message(&self) -> RuleMessage {
        let mut m = RuleMessage::default();
        m.header.family = if self.v6 { AddressFamily::Inet6 } else { AddressFamily::Inet };
        m.header.action = RuleAction::ToTable;
        // Table ids above 255 only fit the attribute; the header byte says "see attribute".
        m.header.table = if self.table < 256 { self.table as u8 } else { 0 };
        m.attributes.push(RuleAttribute::Table(self.table));
        if let Some(p) = self.priority {
            m.attributes.push(RuleAttribute::Priority(p));
        }
        if let Some(from) = self.from {
            m.header.src_len = from.prefix();
            m.attributes.push(RuleAttribute::Source(from.network()));
        }
        if let Some(to) = self.to {
            m.header.dst_len = to.prefix();
            m.attributes.push(RuleAttribute::Destination(to.network()));
        }
        if let Some(i) = &self.iif {
            m.attributes.push(RuleAttribute::Iifname(i.clone()));
        }
        if let Some(o) = &self.oif {
            m.attributes.push(RuleAttribute::Oifname(o.clone()));
        }
        if self.l3mdev {
            m.attributes.push(RuleAttribute::L3MDev(true));
        }
        m
    }

    fn from_message(m: RuleMessage) -> Rule {
        let mut r =
            Rule { v6: m.header.family == AddressFamily::Inet6, table: m.header.table as u32, ..Rule::default() };
        for a in m.attributes {
            match a {
                RuleAttribute::Table(t) => r.table = t,
                RuleAttribute::Priority(p) => r.priority = Some(p),
                RuleAttribute::Source(ip) => r.from = IpNetwork::new(ip, m.header.src_len).ok(),
                RuleAttribute::Destination(ip) => r.to = IpNetwork::new(ip, m.header.dst_len).ok(),
                RuleAttribute::Iifname(i) => r.iif = Some(i),
                RuleAttribute::Oifname(o) => r.oif = Some(o),
                RuleAttribute::L3MDev(on) => r.l3mdev = on,
                _ => {}
            }
        }
        r
    }
}

impl Netlink {
    pub async fn add_rule(&self, rule: &Rule) -> Result<(), Error> {
        let op = format!("adding rule {rule:?}");
        self.ack(RouteNetlinkMessage::NewRule(rule.message()), NLM_F_CREATE | NLM_F_EXCL, &op).await
    }

    /// Delete a rule; already gone is fine.
    pub async fn delete_rule(&self, rule: &Rule) -> Result<(), Error> {
        match self.ack(RouteNetlinkMessage::DelRule(rule.message()), 0, &format!("deleting rule {rule:?}")).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    pub async fn rules(&self, v6: bool) -> Result<Vec<Rule>, Error> {
        let mut req = RuleMessage::default();
        req.header.family = if v6 { AddressFamily::Inet6 } else { AddressFamily::Inet };
        self.dump_map(RouteNetlinkMessage::GetRule(req), "listing rules", |m| match m {
            RouteNetlinkMessage::NewRule(r) => Some(Rule::from_message(r)),
            _ => None,
        })
        .await
    }
}
