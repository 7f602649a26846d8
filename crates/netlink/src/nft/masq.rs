//! IP masquerading for bridge networks (`ipMasq`), in nftables, laid out as
//! the reference plugins' nftables backend lays it out (table `inet
//! cni_plugins_masquerade`, chain `masq_checks`, one rule per container
//! address with a comment starting with a hash of network, ifname and
//! container ID). Rules are found by that comment, never by address, so a
//! DEL without the netns or the address still removes them.

use super::expr::{Exprs, NFPROTO_IPV4, NFPROTO_IPV6, NFT_GOTO, NFT_RETURN};
use super::rules::{Rules, list_rules, stale};
use super::wire::{
    Attrs, Change, NFPROTO_INET, NFT_MSG_DELRULE, NFT_MSG_NEWCHAIN, NFT_MSG_NEWTABLE, NLM_F_CREATE, Nft,
};
use crate::Error;
use ipnetwork::IpNetwork;
use sha2::{Digest, Sha512};

const TABLE: &str = "cni_plugins_masquerade";
const CHAIN: &str = "masq_checks";
const POSTROUTING: &str = "postrouting";
/// knftables' limit, which the reference truncates comments to.
const COMMENT_MAX: usize = 128;
const NF_INET_POST_ROUTING: u32 = 4;
const NF_IP_PRI_NAT_SRC: u32 = 100;

const RULES: Rules<'static> = Rules { table: TABLE };

/// The first 16 hex digits of sha512, as the reference's `MustFormatHashWithPrefix(16, "", s)`.
fn hash16(s: &str) -> String {
    Sha512::digest(s.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

pub(super) fn network_hash(network: &str) -> String {
    hash16(network)
}

pub(super) fn instance_hash(network: &str, ifname: &str, id: &str) -> String {
    format!("{}-{}", network_hash(network), hash16(&format!("{ifname}:{id}")))
}

/// The reference's `commentForInstance`.
pub fn comment(network: &str, ifname: &str, id: &str) -> String {
    let strip = |s: &str| s.replace('"', "");
    let mut c = format!(
        "{}, net: {}, if: {}, id: {}",
        instance_hash(network, ifname, id),
        strip(network),
        strip(ifname),
        strip(id)
    );
    c.truncate(COMMENT_MAX);
    c
}

/// `saddr == ip && daddr != its subnet → masquerade`.
fn masq_rule(ip: IpNetwork) -> Exprs {
    let (proto, saddr, daddr, addr, net) = match ip {
        IpNetwork::V4(v4) => (NFPROTO_IPV4, 12, 16, v4.ip().octets().to_vec(), v4.network().octets().to_vec()),
        IpNetwork::V6(v6) => (NFPROTO_IPV6, 8, 24, v6.ip().octets().to_vec(), v6.network().octets().to_vec()),
    };
    let mask = prefix_mask(ip.prefix(), addr.len());
    Exprs::default()
        .nfproto(proto)
        .network_header(saddr, addr.len() as u32)
        .cmp(0, &addr)
        .network_header(daddr, addr.len() as u32)
        .mask(&mask)
        .cmp(1, &net)
        .masquerade()
}

/// `daddr in <multicast> → return`: multicast is never masqueraded.
fn multicast_return(v6: bool) -> Exprs {
    let (proto, offset, mask, net) = if v6 {
        (NFPROTO_IPV6, 24, prefix_mask(8, 16), {
            let mut n = vec![0; 16];
            n[0] = 0xff;
            n
        })
    } else {
        (NFPROTO_IPV4, 16, prefix_mask(4, 4), vec![224, 0, 0, 0])
    };
    Exprs::default()
        .nfproto(proto)
        .network_header(offset, mask.len() as u32)
        .mask(&mask)
        .cmp(0, &net)
        .verdict(NFT_RETURN, None)
}

pub(super) fn prefix_mask(prefix: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            let bits = (prefix as usize).saturating_sub(i * 8).min(8);
            (0xffu16 << (8 - bits)) as u8
        })
        .collect()
}

/// Rules in `masq_checks`: (handle, comment).
fn list(nft: &Nft) -> Result<Vec<(u64, String)>, Error> {
    list_rules(nft, NFPROTO_INET, TABLE, CHAIN)
}

/// ADD: masquerade traffic from `ips` leaving their subnets, replacing any
/// rules left for the same attachment, in one transaction.
pub fn setup(network: &str, ifname: &str, id: &str, ips: &[IpNetwork]) -> Result<(), Error> {
    let nft = Nft::open()?;
    let prefix = instance_hash(network, ifname, id);
    let stale: Vec<u64> = list(&nft)?.into_iter().filter(|(_, c)| c.starts_with(&prefix)).map(|(h, _)| h).collect();
    let comment = comment(network, ifname, id);
    let mut changes = vec![
        Change { msg: NFT_MSG_NEWTABLE, flags: NLM_F_CREATE, attrs: Attrs::new().str(1, TABLE) },
        Change { msg: NFT_MSG_NEWCHAIN, flags: NLM_F_CREATE, attrs: Attrs::new().str(1, TABLE).str(3, CHAIN) },
        Change {
            msg: NFT_MSG_NEWCHAIN,
            flags: NLM_F_CREATE,
            attrs: Attrs::new()
                .str(1, TABLE)
                .str(3, POSTROUTING)
                .nested(4, Attrs::new().u32(1, NF_INET_POST_ROUTING).u32(2, NF_IP_PRI_NAT_SRC))
                .str(7, "nat"),
        },
        // Flush and refill postrouting, so its three rules exist exactly once.
        Change { msg: NFT_MSG_DELRULE, flags: 0, attrs: RULES.base(POSTROUTING) },
        RULES.add(POSTROUTING, multicast_return(false), ""),
        RULES.add(POSTROUTING, multicast_return(true), ""),
        RULES.add(POSTROUTING, Exprs::default().verdict(NFT_GOTO, Some(CHAIN)), ""),
    ];
    changes.extend(stale.into_iter().map(|h| RULES.delete(CHAIN, h)));
    changes.extend(ips.iter().map(|ip| RULES.add(CHAIN, masq_rule(*ip), &comment)));
    nft.commit(NFPROTO_INET, &changes, "installing masquerade rules")
}

/// DEL: remove this attachment's rules, whatever addresses they name.
pub fn teardown(network: &str, ifname: &str, id: &str) -> Result<(), Error> {
    let nft = Nft::open()?;
    let prefix = instance_hash(network, ifname, id);
    let doomed: Vec<Change> =
        list(&nft)?.into_iter().filter(|(_, c)| c.starts_with(&prefix)).map(|(h, _)| RULES.delete(CHAIN, h)).collect();
    nft.commit(NFPROTO_INET, &doomed, "removing masquerade rules")
}

/// GC: remove the network's rules whose attachment is not in `valid` (ifname, container ID).
pub fn gc(network: &str, valid: &[(String, String)]) -> Result<usize, Error> {
    let nft = Nft::open()?;
    let doomed = stale(&nft, &RULES, &[CHAIN], network, valid)?;
    let n = doomed.len();
    nft.commit(NFPROTO_INET, &doomed, "collecting masquerade rules")?;
    Ok(n)
}

/// The comments of the rules present (for CHECK and tests).
pub fn comments() -> Result<Vec<String>, Error> {
    Ok(list(&Nft::open()?)?.into_iter().map(|(_, c)| c).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_comments() {
        assert_eq!(prefix_mask(20, 4), [255, 255, 240, 0]);
        assert_eq!(prefix_mask(4, 4), [240, 0, 0, 0]);
        let c = comment("net\"1", "eth0", "abc");
        assert!(c.ends_with(", net: net1, if: eth0, id: abc"), "{c}");
        assert_eq!(c.split(',').next().unwrap().len(), 33);
        assert_eq!(comment("n", "eth0", &"x".repeat(300)).len(), COMMENT_MAX);
    }
}
