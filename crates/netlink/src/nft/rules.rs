//! Rules of one table: build, delete by handle, and list with their comments.

use super::expr::Exprs;
use super::wire::{
    Attrs, Change, NFT_MSG_DELRULE, NFT_MSG_GETRULE, NFT_MSG_NEWRULE, NLM_F_APPEND, NLM_F_CREATE, Nft, parse_attrs,
};
use crate::Error;
use std::collections::HashSet;

const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_HANDLE: u16 = 3;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_RULE_USERDATA: u16 = 7;
/// libnftnl's userdata TLV type for a rule comment (what `nft ... comment "x"` writes).
const UDATA_RULE_COMMENT: u8 = 0;

pub struct Rules<'a> {
    pub table: &'a str,
}

impl Rules<'_> {
    /// Table and chain: enough to flush a chain with DELRULE.
    pub fn base(&self, chain: &str) -> Attrs {
        Attrs::new().str(NFTA_RULE_TABLE, self.table).str(NFTA_RULE_CHAIN, chain)
    }

    /// Append a rule, with a comment unless `comment` is empty.
    pub fn add(&self, chain: &str, exprs: Exprs, comment: &str) -> Change {
        let mut attrs = self.base(chain).nested(NFTA_RULE_EXPRESSIONS, exprs.into_attrs());
        if !comment.is_empty() {
            let mut ud = vec![UDATA_RULE_COMMENT, (comment.len() + 1) as u8];
            ud.extend_from_slice(comment.as_bytes());
            ud.push(0);
            attrs = attrs.bytes(NFTA_RULE_USERDATA, &ud);
        }
        Change { msg: NFT_MSG_NEWRULE, flags: NLM_F_CREATE | NLM_F_APPEND, attrs }
    }

    pub fn delete(&self, chain: &str, handle: u64) -> Change {
        Change { msg: NFT_MSG_DELRULE, flags: 0, attrs: self.base(chain).u64(NFTA_RULE_HANDLE, handle) }
    }
}

/// Rules of `table`/`chain`: (handle, comment). A missing table or chain is an empty list.
pub fn list_rules(nft: &Nft, family: u8, table: &str, chain: &str) -> Result<Vec<(u64, String)>, Error> {
    let filter = Rules { table }.base(chain);
    let replies = match nft.dump(family, NFT_MSG_GETRULE, &filter, &format!("listing rules of {table}/{chain}")) {
        Err(e) if e.is_not_found() => return Ok(Vec::new()),
        other => other?,
    };
    let mut want = chain.as_bytes().to_vec();
    want.push(0);
    let mut out = Vec::new();
    for reply in replies {
        let attrs = parse_attrs(&reply);
        let field = |k: u16| attrs.iter().find(|(t, _)| *t == k).map(|(_, v)| *v);
        if field(NFTA_RULE_CHAIN) != Some(want.as_slice()) {
            continue;
        }
        let Some(handle) = field(NFTA_RULE_HANDLE).and_then(|h| h.try_into().ok()).map(u64::from_be_bytes) else {
            continue;
        };
        out.push((handle, field(NFTA_RULE_USERDATA).map(read_comment).unwrap_or_default()));
    }
    Ok(out)
}

fn read_comment(mut ud: &[u8]) -> String {
    while ud.len() >= 2 {
        let (kind, len) = (ud[0], ud[1] as usize);
        let Some(value) = ud.get(2..2 + len) else { break };
        if kind == UDATA_RULE_COMMENT {
            return String::from_utf8_lossy(value).trim_end_matches('\0').to_string();
        }
        ud = &ud[2 + len..];
    }
    String::new()
}

/// GC's deletes: the rules of `network` in the inet table's `chains` whose
/// attachment (ifname, container ID) is not in `valid`, found by the
/// attachment comment every plugin's rules carry ([`super::masq::comment`]).
pub fn stale(
    nft: &Nft,
    rules: &Rules,
    chains: &[&str],
    network: &str,
    valid: &[(String, String)],
) -> Result<Vec<Change>, Error> {
    let prefix = super::masq::network_hash(network);
    let keep: HashSet<String> = valid.iter().map(|(ifname, id)| super::masq::comment(network, ifname, id)).collect();
    let mut doomed = Vec::new();
    for chain in chains {
        doomed.extend(
            list_rules(nft, super::wire::NFPROTO_INET, rules.table, chain)?
                .into_iter()
                .filter(|(_, c)| c.starts_with(&prefix) && !keep.contains(c))
                .map(|(h, _)| rules.delete(chain, h)),
        );
    }
    Ok(doomed)
}
