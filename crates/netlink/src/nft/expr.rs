//! The few nf_tables expressions railcni's rules are made of.

use super::wire::Attrs;

const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFT_REG_VERDICT: u32 = 0;
const NFT_REG_1: u32 = 1;
const NFT_META_NFPROTO: u32 = 15;
const NFT_META_IIFNAME: u32 = 6;
const NFT_PAYLOAD_LL_HEADER: u32 = 0;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
pub const NFT_RETURN: i32 = -5;
pub const NFT_GOTO: i32 = -4;
pub const NFT_JUMP: i32 = -3;
pub const NF_DROP: i32 = 0;
pub const NFPROTO_IPV4: u8 = 2;
pub const NFPROTO_IPV6: u8 = 10;

/// A rule body: a list of expressions.
#[derive(Default)]
pub struct Exprs(Attrs);

impl Exprs {
    fn push(self, name: &str, data: Option<Attrs>) -> Exprs {
        let mut e = Attrs::new().str(NFTA_EXPR_NAME, name);
        if let Some(d) = data {
            e = e.nested(NFTA_EXPR_DATA, d);
        }
        Exprs(self.0.nested(NFTA_LIST_ELEM, e))
    }

    pub fn into_attrs(self) -> Attrs {
        self.0
    }

    /// `meta nfproto <proto>`: needed before matching IP fields in an inet table.
    pub fn nfproto(self, proto: u8) -> Exprs {
        self.push("meta", Some(Attrs::new().u32(1, NFT_REG_1).u32(2, NFT_META_NFPROTO))).cmp(0, &[proto])
    }

    /// Load `len` bytes at `offset` of the network header.
    pub fn network_header(self, offset: u32, len: u32) -> Exprs {
        self.payload(NFT_PAYLOAD_NETWORK_HEADER, offset, len)
    }

    /// `ether saddr == mac`.
    pub fn ether_saddr(self, mac: &[u8]) -> Exprs {
        self.payload(NFT_PAYLOAD_LL_HEADER, 6, 6).cmp(0, mac)
    }

    /// `iifname == name` (the kernel compares the NUL-padded IFNAMSIZ buffer).
    pub fn iifname(self, name: &str) -> Exprs {
        let mut padded = name.as_bytes().to_vec();
        padded.resize(16, 0);
        self.push("meta", Some(Attrs::new().u32(1, NFT_REG_1).u32(2, NFT_META_IIFNAME))).cmp(0, &padded)
    }

    fn payload(self, base: u32, offset: u32, len: u32) -> Exprs {
        let d = Attrs::new().u32(1, NFT_REG_1).u32(2, base).u32(3, offset).u32(4, len);
        self.push("payload", Some(d))
    }

    /// Mask the loaded value (a prefix match).
    pub fn mask(self, mask: &[u8]) -> Exprs {
        let d = Attrs::new()
            .u32(1, NFT_REG_1)
            .u32(2, NFT_REG_1)
            .u32(3, mask.len() as u32)
            .nested(4, Attrs::new().bytes(NFTA_DATA_VALUE, mask))
            .nested(5, Attrs::new().bytes(NFTA_DATA_VALUE, &vec![0; mask.len()]));
        self.push("bitwise", Some(d))
    }

    /// Compare the loaded value: op 0 is ==, 1 is !=.
    pub fn cmp(self, op: u32, value: &[u8]) -> Exprs {
        let d = Attrs::new().u32(1, NFT_REG_1).u32(2, op).nested(3, Attrs::new().bytes(NFTA_DATA_VALUE, value));
        self.push("cmp", Some(d))
    }

    pub fn masquerade(self) -> Exprs {
        self.push("masq", None)
    }

    /// A verdict: `return`, or `goto <chain>`.
    pub fn verdict(self, code: i32, chain: Option<&str>) -> Exprs {
        let mut v = Attrs::new().u32(1, code as u32);
        if let Some(c) = chain {
            v = v.str(2, c);
        }
        let d = Attrs::new().u32(1, NFT_REG_VERDICT).nested(2, Attrs::new().nested(NFTA_DATA_VERDICT, v));
        self.push("immediate", Some(d))
    }
}
