//! `macspoofchk`: only frames with the pod's MAC may enter the bridge from
//! its port. Laid out as the reference lays it out (table `bridge
//! cni_spoofcheck`, base chain `prerouting`, per attachment the chains
//! `cni-br-iface-<id>` and `cni-br-iface-<id>-mac`, rules commented
//! `macspoofchk-<id>` with id = `<containerID>-<ifname>`).

use super::expr::{Exprs, NF_DROP, NFT_JUMP, NFT_RETURN};
use super::rules::{Rules, list_rules};
use super::wire::{
    Attrs, Change, NFPROTO_BRIDGE, NFT_MSG_DELCHAIN, NFT_MSG_DELRULE, NFT_MSG_NEWCHAIN, NFT_MSG_NEWTABLE, NLM_F_CREATE,
    Nft,
};
use crate::Error;

const TABLE: &str = "cni_spoofcheck";
const PREROUTING: &str = "prerouting";
const NF_BR_PRE_ROUTING: u32 = 0;
const PRIORITY: i32 = -300;

fn ids(container_id: &str, ifname: &str) -> (String, String, String) {
    let id = format!("{container_id}-{ifname}");
    let iface = format!("cni-br-iface-{id}");
    (format!("{iface}-mac"), iface, format!("macspoofchk-{id}"))
}

/// ADD: frames entering from `host_port` must carry `mac`.
pub fn setup(container_id: &str, ifname: &str, host_port: &str, mac: &[u8]) -> Result<(), Error> {
    let nft = Nft::open()?;
    let rules = Rules { table: TABLE };
    let (mac_chain, iface_chain, comment) = ids(container_id, ifname);
    let chain = |name: &str| Change {
        msg: NFT_MSG_NEWCHAIN,
        flags: NLM_F_CREATE,
        attrs: Attrs::new().str(1, TABLE).str(3, name),
    };
    let flush = |name: &str| Change { msg: NFT_MSG_DELRULE, flags: 0, attrs: rules.base(name) };
    let stale = find_jumps(&nft, &comment)?;
    let mut changes = vec![
        Change { msg: NFT_MSG_NEWTABLE, flags: NLM_F_CREATE, attrs: Attrs::new().str(1, TABLE) },
        Change {
            msg: NFT_MSG_NEWCHAIN,
            flags: NLM_F_CREATE,
            attrs: Attrs::new()
                .str(1, TABLE)
                .str(3, PREROUTING)
                .nested(4, Attrs::new().u32(1, NF_BR_PRE_ROUTING).u32(2, PRIORITY as u32))
                .str(7, "filter"),
        },
        chain(&iface_chain),
        flush(&iface_chain),
        chain(&mac_chain),
        flush(&mac_chain),
    ];
    changes.extend(stale.into_iter().map(|h| rules.delete(PREROUTING, h)));
    changes.push(rules.add(
        PREROUTING,
        Exprs::default().iifname(host_port).verdict(NFT_JUMP, Some(&iface_chain)),
        &comment,
    ));
    changes.push(rules.add(&iface_chain, Exprs::default().verdict(NFT_JUMP, Some(&mac_chain)), &comment));
    changes.push(rules.add(&mac_chain, Exprs::default().ether_saddr(mac).verdict(NFT_RETURN, None), &comment));
    changes.push(rules.add(&mac_chain, Exprs::default().verdict(NF_DROP, None), &comment));
    nft.commit(NFPROTO_BRIDGE, &changes, "installing the MAC spoof check")
}

/// DEL: remove the attachment's jump and chains; already gone is fine.
pub fn teardown(container_id: &str, ifname: &str) -> Result<(), Error> {
    let nft = Nft::open()?;
    let rules = Rules { table: TABLE };
    let (mac_chain, iface_chain, comment) = ids(container_id, ifname);
    let jumps = find_jumps(&nft, &comment)?;
    let mut changes: Vec<Change> = jumps.into_iter().map(|h| rules.delete(PREROUTING, h)).collect();
    nft.commit(NFPROTO_BRIDGE, &changes, "removing the MAC spoof check jump")?;
    changes.clear();
    // Deleting a chain also deletes its rules; the iface chain goes first, as it jumps to the mac chain.
    for name in [&iface_chain, &mac_chain] {
        let del = Change { msg: NFT_MSG_DELCHAIN, flags: 0, attrs: Attrs::new().str(1, TABLE).str(3, name) };
        match nft.commit(NFPROTO_BRIDGE, &[del], "removing MAC spoof check chains") {
            Err(e) if e.is_not_found() => {}
            other => other?,
        }
    }
    Ok(())
}

/// Whether the check is installed for the attachment (CHECK).
pub fn present(container_id: &str, ifname: &str) -> Result<bool, Error> {
    let (_, _, comment) = ids(container_id, ifname);
    Ok(!find_jumps(&Nft::open()?, &comment)?.is_empty())
}

fn find_jumps(nft: &Nft, comment: &str) -> Result<Vec<u64>, Error> {
    let rules = list_rules(nft, NFPROTO_BRIDGE, TABLE, PREROUTING)?;
    Ok(rules.into_iter().filter(|(_, c)| c == comment).map(|(h, _)| h).collect())
}
