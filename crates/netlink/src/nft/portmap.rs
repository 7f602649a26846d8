//! Host ports forwarded to a container (the portmap plugin), in nftables:
//! table `inet cni_hostport`, laid out as the reference's nftables backend
//! lays out its own (base chains jump to `hostports` for packets to a
//! local address; one rule set per attachment there, carrying the
//! attachment's comment, so DEL and GC find them without the addresses).
//!
//! Hairpin and localhost connections must be masqueraded, or the
//! container's reply would bypass the DNAT's reverse translation: as the
//! reference's iptables backend does, `hostports` marks them with the
//! config's mark bit, and `postrouting` masquerades marked connections to
//! the attachment's addresses.

use super::chains::{self, NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING, NF_INET_PRE_ROUTING};
use super::expr::{Exprs, NFPROTO_IPV4, NFPROTO_IPV6, NFT_JUMP};
use super::masq::{comment, instance_hash, prefix_mask};
use super::rules::{Rules, list_rules, stale};
use super::wire::{Change, NFPROTO_INET, Nft};
use crate::Error;
use ipnetwork::IpNetwork;
use std::net::{IpAddr, Ipv4Addr};

pub const TABLE: &str = "cni_hostport";
const HOSTPORTS: &str = "hostports";
const POSTROUTING: &str = "postrouting";
const RULES: Rules<'static> = Rules { table: TABLE };

/// One forwarded port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// IPPROTO_TCP, IPPROTO_UDP or IPPROTO_SCTP.
    pub protocol: u8,
    pub host_port: u16,
    pub container_port: u16,
    /// Only packets to this address; `None` for any local address.
    pub host_ip: Option<IpAddr>,
}

/// What to install for one attachment.
pub struct Forward<'a> {
    /// The container's addresses with their prefixes (at most one per family).
    pub container: &'a [IpNetwork],
    pub mappings: &'a [Mapping],
    /// Masquerade hairpin and (IPv4) localhost connections.
    pub snat: bool,
    /// The mark bit (0-31) that asks `postrouting` to masquerade.
    pub mark_bit: u8,
}

/// The rules one container address gets for `m`: the mark rules (hairpin,
/// then IPv4 localhost) before the DNAT, as the marks must be set first.
fn mapping_rules(f: &Forward, ip: IpNetwork, m: &Mapping) -> Vec<Exprs> {
    let (proto, saddr, daddr, addr) = match ip {
        IpNetwork::V4(v4) => (NFPROTO_IPV4, 12, 16, v4.ip().octets().to_vec()),
        IpNetwork::V6(v6) => (NFPROTO_IPV6, 8, 24, v6.ip().octets().to_vec()),
    };
    let base = || {
        let e = Exprs::default().nfproto(proto).l4proto(m.protocol).dport(m.host_port);
        match m.host_ip {
            Some(IpAddr::V4(h)) if !h.is_unspecified() => e.network_header(daddr, 4).cmp(0, &h.octets()),
            Some(IpAddr::V6(h)) if !h.is_unspecified() => e.network_header(daddr, 16).cmp(0, &h.octets()),
            _ => e,
        }
    };
    let bit = 1u32 << f.mark_bit;
    let mut out = Vec::new();
    if f.snat {
        let net: Vec<u8> = match ip.network() {
            IpAddr::V4(n) => n.octets().to_vec(),
            IpAddr::V6(n) => n.octets().to_vec(),
        };
        let hairpin =
            base().network_header(saddr, addr.len() as u32).mask(&prefix_mask(ip.prefix(), addr.len())).cmp(0, &net);
        out.push(hairpin.mark_or(bit));
        if proto == NFPROTO_IPV4 {
            out.push(base().network_header(saddr, 4).cmp(0, &Ipv4Addr::LOCALHOST.octets()).mark_or(bit));
        }
    }
    out.push(base().dnat(proto, &addr, m.container_port));
    out
}

/// Whether `m` applies to the address family of `ip` (a `hostIP` of the other family skips it).
fn applies(m: &Mapping, ip: &IpNetwork) -> bool {
    m.host_ip.is_none_or(|h| h.is_ipv4() == ip.is_ipv4())
}

/// The rules ADD installs for `f` in `hostports`, in order.
fn attachment_rules(f: &Forward) -> Vec<Exprs> {
    let mut out = Vec::new();
    for ip in f.container {
        for m in f.mappings.iter().filter(|m| applies(m, ip)) {
            out.extend(mapping_rules(f, *ip, m));
        }
    }
    out
}

/// The attachment's `postrouting` rules: marked connections to a container
/// address are masqueraded. One per attachment and address, not one shared
/// per mark bit: then no ADD changes a rule another attachment relies on,
/// and DEL removes them with the rest.
fn masquerade_rules(f: &Forward) -> Vec<Exprs> {
    if !f.snat {
        return Vec::new();
    }
    let bit = 1u32 << f.mark_bit;
    f.container
        .iter()
        .map(|ip| {
            let (proto, daddr, addr) = match ip {
                IpNetwork::V4(v4) => (NFPROTO_IPV4, 16, v4.ip().octets().to_vec()),
                IpNetwork::V6(v6) => (NFPROTO_IPV6, 24, v6.ip().octets().to_vec()),
            };
            Exprs::default()
                .nfproto(proto)
                .network_header(daddr, addr.len() as u32)
                .cmp(0, &addr)
                .mark_has(bit)
                .masquerade()
        })
        .collect()
}

/// How many rules ADD installs for `f` (what CHECK expects to find).
pub fn rule_count(f: &Forward) -> usize {
    attachment_rules(f).len() + masquerade_rules(f).len()
}

/// The attachment's rules in `hostports` and `postrouting`, as deletions.
fn ours(nft: &Nft, prefix: &str) -> Result<Vec<Change>, Error> {
    let mut out = Vec::new();
    for chain in [HOSTPORTS, POSTROUTING] {
        let rules = list_rules(nft, NFPROTO_INET, TABLE, chain)?;
        out.extend(rules.into_iter().filter(|(_, c)| c.starts_with(prefix)).map(|(h, _)| RULES.delete(chain, h)));
    }
    Ok(out)
}

/// ADD: forward the ports, replacing any rules left for the same attachment, in one transaction.
pub fn setup(network: &str, ifname: &str, id: &str, f: &Forward) -> Result<(), Error> {
    let nft = Nft::open()?;
    chains::retry_on_race(|| try_setup(&nft, network, ifname, id, f))
}

fn try_setup(nft: &Nft, network: &str, ifname: &str, id: &str, f: &Forward) -> Result<(), Error> {
    let stale = ours(nft, &instance_hash(network, ifname, id))?;
    let to_local = || Exprs::default().daddr_is_local().verdict(NFT_JUMP, Some(HOSTPORTS));
    let mut changes = vec![
        chains::table(TABLE),
        chains::chain(TABLE, HOSTPORTS),
        chains::base(TABLE, "prerouting", NF_INET_PRE_ROUTING, chains::PRIORITY_DSTNAT, "nat"),
        chains::base(TABLE, "output", NF_INET_LOCAL_OUT, chains::PRIORITY_DSTNAT, "nat"),
        chains::base(TABLE, POSTROUTING, NF_INET_POST_ROUTING, chains::PRIORITY_SRCNAT, "nat"),
        // Flush and refill the entry chains, so their one rule exists exactly once.
        chains::flush(TABLE, "prerouting"),
        RULES.add("prerouting", to_local(), ""),
        chains::flush(TABLE, "output"),
        RULES.add("output", to_local(), ""),
    ];
    changes.extend(stale);
    let comment = comment(network, ifname, id);
    changes.extend(attachment_rules(f).into_iter().map(|e| RULES.add(HOSTPORTS, e, &comment)));
    changes.extend(masquerade_rules(f).into_iter().map(|e| RULES.add(POSTROUTING, e, &comment)));
    nft.commit(NFPROTO_INET, &changes, "installing host port rules")
}

/// DEL: remove the attachment's rules, whatever ports and addresses they
/// name, and the table once no attachment has rules in it.
pub fn teardown(network: &str, ifname: &str, id: &str) -> Result<(), Error> {
    let nft = Nft::open()?;
    chains::retry_on_race(|| {
        let doomed = ours(&nft, &instance_hash(network, ifname, id))?;
        nft.commit(NFPROTO_INET, &doomed, "removing host port rules")
    })?;
    remove_unused(&nft)
}

fn remove_unused(nft: &Nft) -> Result<(), Error> {
    let skeleton = ["prerouting", "output", POSTROUTING];
    chains::remove_if_unused(nft, TABLE, &skeleton, &[HOSTPORTS], "removing the unused host port table")
}

/// The number of rules the attachment has (CHECK compares it with [`rule_count`]).
pub fn installed(network: &str, ifname: &str, id: &str) -> Result<usize, Error> {
    let nft = Nft::open()?;
    let entry = list_rules(&nft, NFPROTO_INET, TABLE, "prerouting")?;
    if entry.is_empty() {
        return Ok(0);
    }
    Ok(ours(&nft, &instance_hash(network, ifname, id))?.len())
}

/// GC: remove the network's rules whose attachment (ifname, container ID) is not in `valid`.
pub fn gc(network: &str, valid: &[(String, String)]) -> Result<usize, Error> {
    let nft = Nft::open()?;
    let doomed = stale(&nft, &RULES, &[HOSTPORTS, POSTROUTING], network, valid)?;
    let n = doomed.len();
    nft.commit(NFPROTO_INET, &doomed, "collecting host port rules")?;
    remove_unused(&nft)?;
    Ok(n)
}

/// The comments of every rule in `hostports` (for tests).
pub fn comments() -> Result<Vec<String>, Error> {
    Ok(list_rules(&Nft::open()?, NFPROTO_INET, TABLE, HOSTPORTS)?.into_iter().map(|(_, c)| c).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_per_mapping_and_family() {
        let m = |host_ip: Option<IpAddr>| Mapping { protocol: 6, host_port: 80, container_port: 8080, host_ip };
        let ips: Vec<IpNetwork> = vec!["10.0.0.2/24".parse().unwrap(), "fd00::2/64".parse().unwrap()];
        let maps = [m(None), m(Some("192.0.2.1".parse().unwrap()))];
        let f = Forward { container: &ips, mappings: &maps, snat: true, mark_bit: 13 };
        // v4: 2 mappings x (hairpin, localhost, dnat); v6: 1 mapping x (hairpin, dnat); a masquerade per address.
        assert_eq!(rule_count(&f), 10);
        let f = Forward { snat: false, ..f };
        assert_eq!(rule_count(&f), 3);
    }
}
