//! Tables and chains: the skeleton a plugin's rules hang in.

use super::rules::Rules;
use super::wire::{
    Attrs, Change, NFPROTO_INET, NFT_MSG_DELCHAIN, NFT_MSG_DELRULE, NFT_MSG_DELTABLE, NFT_MSG_NEWCHAIN,
    NFT_MSG_NEWTABLE, NLM_F_CREATE, NLM_F_NONREC, Nft,
};
use crate::Error;

const EBUSY: i32 = 16;

pub const NF_INET_PRE_ROUTING: u32 = 0;
pub const NF_INET_FORWARD: u32 = 2;
pub const NF_INET_LOCAL_OUT: u32 = 3;
pub const NF_INET_POST_ROUTING: u32 = 4;
pub const PRIORITY_DSTNAT: i32 = -100;
pub const PRIORITY_FILTER: i32 = 0;
pub const PRIORITY_SRCNAT: i32 = 100;

/// Create `table` unless it exists.
pub fn table(table: &str) -> Change {
    Change { msg: NFT_MSG_NEWTABLE, flags: NLM_F_CREATE, attrs: Attrs::new().str(1, table) }
}

/// A regular chain (a jump target), unless it exists.
pub fn chain(table: &str, name: &str) -> Change {
    Change { msg: NFT_MSG_NEWCHAIN, flags: NLM_F_CREATE, attrs: Attrs::new().str(1, table).str(3, name) }
}

/// A base chain of `kind` ("nat", "filter") on `hook`, unless it exists.
pub fn base(table: &str, name: &str, hook: u32, priority: i32, kind: &str) -> Change {
    Change {
        msg: NFT_MSG_NEWCHAIN,
        flags: NLM_F_CREATE,
        attrs: Attrs::new()
            .str(1, table)
            .str(3, name)
            .nested(4, Attrs::new().u32(1, hook).u32(2, priority as u32))
            .str(7, kind),
    }
}

/// Delete all rules of `chain`.
pub fn flush(table: &str, chain: &str) -> Change {
    Change { msg: NFT_MSG_DELRULE, flags: 0, attrs: Rules { table }.base(chain) }
}

/// Remove the inet `table` once no attachment uses it: in one transaction,
/// flush the chains in `flush` (the skeleton's jumps), delete the chains
/// in `empty` only if they have no rule left (NLM_F_NONREC), then the
/// table. The kernel checks under its transaction lock, so a rule another
/// ADD added meanwhile makes the whole transaction fail (EBUSY) and
/// nothing changes; a table already gone (ENOENT) is fine too.
pub fn remove_if_unused(nft: &Nft, table: &str, flush_chains: &[&str], empty: &[&str], op: &str) -> Result<(), Error> {
    let mut changes: Vec<Change> = flush_chains.iter().map(|c| flush(table, c)).collect();
    changes.extend(empty.iter().map(|c| Change {
        msg: NFT_MSG_DELCHAIN,
        flags: NLM_F_NONREC,
        attrs: Attrs::new().str(1, table).str(3, c),
    }));
    changes.push(Change { msg: NFT_MSG_DELTABLE, flags: 0, attrs: Attrs::new().str(1, table) });
    match nft.commit(NFPROTO_INET, &changes, op) {
        Err(e) if e.is_not_found() || e.errno() == Some(EBUSY) => Ok(()),
        other => other,
    }
}

/// Run a transaction built from a fresh listing, again if another process
/// changed the table in between (a handle it named is gone: ENOENT).
pub fn retry_on_race(mut attempt: impl FnMut() -> Result<(), Error>) -> Result<(), Error> {
    let mut tries = 0;
    loop {
        match attempt() {
            Err(e) if e.is_not_found() && tries < 5 => tries += 1,
            other => return other,
        }
    }
}
