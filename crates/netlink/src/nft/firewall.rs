//! The firewall plugin's rules, in nftables: table `inet cni_firewall`,
//! whose `forward` base chain jumps to `isolation`, then to the admin
//! chain (the reference's `CNI-ADMIN`, for the node's own rules), then to
//! `pods`. Per attachment, commented with it so DEL and GC find them
//! without the addresses: in `pods`, the reference iptables backend's two
//! accepts per address (replies to the pod, anything from it); with
//! `same-bridge`, in `isolation`, a drop of new connections to the
//! address that were routed in from another bridge.

use super::chains::{self, NF_INET_FORWARD};
use super::expr::{CT_ESTABLISHED_RELATED, Exprs, NF_ACCEPT, NF_DROP, NFPROTO_IPV4, NFPROTO_IPV6, NFT_JUMP};
use super::masq::{comment, instance_hash};
use super::rules::{Rules, list_rules, stale};
use super::wire::{Change, NFPROTO_INET, Nft};
use crate::Error;
use std::net::IpAddr;

pub const TABLE: &str = "cni_firewall";
const FORWARD: &str = "forward";
const ISOLATION: &str = "isolation";
const PODS: &str = "pods";
const RULES: Rules<'static> = Rules { table: TABLE };
const ADMIN_PREFIX: &str = "admin chain: ";

/// What to install for one attachment.
pub struct Guard<'a> {
    pub ips: &'a [IpAddr],
    /// The admin chain the forward chain jumps to (created empty).
    pub admin_chain: &'a str,
    /// `same-bridge`: the pod's bridge, whose own traffic alone may open connections to it.
    pub bridge: Option<&'a str>,
}

fn addr(ip: &IpAddr) -> (u8, u32, u32, Vec<u8>) {
    match ip {
        IpAddr::V4(v4) => (NFPROTO_IPV4, 12, 16, v4.octets().to_vec()),
        IpAddr::V6(v6) => (NFPROTO_IPV6, 8, 24, v6.octets().to_vec()),
    }
}

/// The `pods` rules of one address: established/related to it, anything from it.
fn accepts(ip: &IpAddr) -> [Exprs; 2] {
    let (proto, saddr, daddr, a) = addr(ip);
    let len = a.len() as u32;
    [
        Exprs::default()
            .nfproto(proto)
            .network_header(daddr, len)
            .cmp(0, &a)
            .ct_state(1, CT_ESTABLISHED_RELATED)
            .verdict(NF_ACCEPT, None),
        Exprs::default().nfproto(proto).network_header(saddr, len).cmp(0, &a).verdict(NF_ACCEPT, None),
    ]
}

/// The `isolation` rule of one address: a new connection to it from another bridge is dropped.
fn isolate(ip: &IpAddr, bridge: &str) -> Exprs {
    let (proto, _, daddr, a) = addr(ip);
    Exprs::default()
        .nfproto(proto)
        .network_header(daddr, a.len() as u32)
        .cmp(0, &a)
        .iifname_not(bridge)
        .iifkind("bridge")
        .ct_state(0, CT_ESTABLISHED_RELATED)
        .verdict(NF_DROP, None)
}

/// How many rules ADD installs for `g` (what CHECK expects).
pub fn rule_count(g: &Guard) -> usize {
    g.ips.len() * (2 + usize::from(g.bridge.is_some()))
}

fn ours(nft: &Nft, chain: &str, prefix: &str) -> Result<Vec<u64>, Error> {
    let rules = list_rules(nft, NFPROTO_INET, TABLE, chain)?;
    Ok(rules.into_iter().filter(|(_, c)| c.starts_with(prefix)).map(|(h, _)| h).collect())
}

/// ADD: the attachment's rules, replacing any left for it, in one transaction.
pub fn setup(network: &str, ifname: &str, id: &str, g: &Guard) -> Result<(), Error> {
    let nft = Nft::open()?;
    chains::retry_on_race(|| try_setup(&nft, network, ifname, id, g))
}

fn try_setup(nft: &Nft, network: &str, ifname: &str, id: &str, g: &Guard) -> Result<(), Error> {
    let prefix = instance_hash(network, ifname, id);
    let stale_pods = ours(nft, PODS, &prefix)?;
    let stale_isolation = ours(nft, ISOLATION, &prefix)?;
    // The admin chains every network asked for so far, and ours.
    let mut admins = admin_chains(nft)?;
    if !admins.iter().any(|a| a == g.admin_chain) {
        admins.push(g.admin_chain.to_string());
    }
    let jump = |chain: &str| Exprs::default().verdict(NFT_JUMP, Some(chain));
    let mut changes = vec![
        chains::table(TABLE),
        chains::base(TABLE, FORWARD, NF_INET_FORWARD, chains::PRIORITY_FILTER, "filter"),
        chains::chain(TABLE, ISOLATION),
        chains::chain(TABLE, g.admin_chain),
        chains::chain(TABLE, PODS),
        // Flush and refill the forward chain: isolation first, as the reference inserts it first.
        chains::flush(TABLE, FORWARD),
        RULES.add(FORWARD, jump(ISOLATION), ""),
    ];
    changes.extend(admins.iter().map(|a| RULES.add(FORWARD, jump(a), &format!("{ADMIN_PREFIX}{a}"))));
    changes.push(RULES.add(FORWARD, jump(PODS), ""));
    changes.extend(stale_pods.into_iter().map(|h| RULES.delete(PODS, h)));
    changes.extend(stale_isolation.into_iter().map(|h| RULES.delete(ISOLATION, h)));
    let comment = comment(network, ifname, id);
    for ip in g.ips {
        if let Some(bridge) = g.bridge {
            changes.push(RULES.add(ISOLATION, isolate(ip, bridge), &comment));
        }
        changes.extend(accepts(ip).into_iter().map(|e| RULES.add(PODS, e, &comment)));
    }
    nft.commit(NFPROTO_INET, &changes, "installing firewall rules")
}

/// The admin chains the forward chain jumps to.
fn admin_chains(nft: &Nft) -> Result<Vec<String>, Error> {
    Ok(list_rules(nft, NFPROTO_INET, TABLE, FORWARD)?
        .into_iter()
        .filter_map(|(_, c)| c.strip_prefix(ADMIN_PREFIX).map(str::to_string))
        .collect())
}

/// DEL: remove the attachment's rules, whatever addresses they name, and
/// the table once no attachment has rules in it (and no admin chain has any).
pub fn teardown(network: &str, ifname: &str, id: &str) -> Result<(), Error> {
    let nft = Nft::open()?;
    let prefix = instance_hash(network, ifname, id);
    chains::retry_on_race(|| {
        let mut doomed: Vec<Change> = ours(&nft, PODS, &prefix)?.into_iter().map(|h| RULES.delete(PODS, h)).collect();
        doomed.extend(ours(&nft, ISOLATION, &prefix)?.into_iter().map(|h| RULES.delete(ISOLATION, h)));
        nft.commit(NFPROTO_INET, &doomed, "removing firewall rules")
    })?;
    remove_unused(&nft)
}

fn remove_unused(nft: &Nft) -> Result<(), Error> {
    let admins = admin_chains(nft)?;
    let mut empty = vec![PODS, ISOLATION];
    empty.extend(admins.iter().map(String::as_str));
    chains::remove_if_unused(nft, TABLE, &[FORWARD], &empty, "removing the unused firewall table")
}

/// The number of rules the attachment has, if the forward chain reaches them (CHECK).
pub fn installed(network: &str, ifname: &str, id: &str) -> Result<usize, Error> {
    let nft = Nft::open()?;
    if list_rules(&nft, NFPROTO_INET, TABLE, FORWARD)?.is_empty() {
        return Ok(0);
    }
    let prefix = instance_hash(network, ifname, id);
    Ok(ours(&nft, PODS, &prefix)?.len() + ours(&nft, ISOLATION, &prefix)?.len())
}

/// GC: remove the network's rules whose attachment (ifname, container ID) is not in `valid`.
pub fn gc(network: &str, valid: &[(String, String)]) -> Result<usize, Error> {
    let nft = Nft::open()?;
    let doomed = stale(&nft, &RULES, &[PODS, ISOLATION], network, valid)?;
    let n = doomed.len();
    nft.commit(NFPROTO_INET, &doomed, "collecting firewall rules")?;
    remove_unused(&nft)?;
    Ok(n)
}
