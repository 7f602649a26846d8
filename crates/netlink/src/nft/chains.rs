//! Tables and chains: the skeleton a plugin's rules hang in.

use super::wire::{Attrs, Change, NFT_MSG_NEWCHAIN, NFT_MSG_NEWTABLE, NLM_F_CREATE};

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
