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

// What the port-forwarding and firewall rules add to the above.
const NFT_REG_2: u32 = 2;
const NFT_META_MARK: u32 = 3;
const NFT_META_L4PROTO: u32 = 16;
const NFT_META_IIFKIND: u32 = 26;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
const NFTA_FIB_F_DADDR: u32 = 1 << 1;
const NFT_FIB_RESULT_ADDRTYPE: u32 = 3;
const RTN_LOCAL: u32 = 2;
const NFT_NAT_DNAT: u32 = 1;
const NFT_CT_STATE: u32 = 0;
pub const NF_ACCEPT: i32 = 1;
/// `ct state` bits: established and related.
pub const CT_ESTABLISHED_RELATED: u32 = 0b110;

/// Pad an interface name (or kind) to the NUL-padded IFNAMSIZ buffer the kernel compares.
fn ifname_bytes(name: &str) -> Vec<u8> {
    let mut padded = name.as_bytes().to_vec();
    padded.resize(16, 0);
    padded
}

impl Exprs {
    /// `meta l4proto <proto>` (IPPROTO_*).
    pub fn l4proto(self, proto: u8) -> Exprs {
        self.push("meta", Some(Attrs::new().u32(1, NFT_REG_1).u32(2, NFT_META_L4PROTO))).cmp(0, &[proto])
    }

    /// `th dport <port>`: TCP, UDP and SCTP all carry it at offset 2.
    pub fn dport(self, port: u16) -> Exprs {
        self.payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2).cmp(0, &port.to_be_bytes())
    }

    /// `fib daddr type local`: the packet is for an address of this namespace.
    pub fn daddr_is_local(self) -> Exprs {
        let d = Attrs::new().u32(1, NFT_REG_1).u32(2, NFT_FIB_RESULT_ADDRTYPE).u32(3, NFTA_FIB_F_DADDR);
        // The fib result is a host-endian u32 in the register.
        self.push("fib", Some(d)).cmp(0, &RTN_LOCAL.to_ne_bytes())
    }

    /// `iifname != name`.
    pub fn iifname_not(self, name: &str) -> Exprs {
        self.push("meta", Some(Attrs::new().u32(1, NFT_REG_1).u32(2, NFT_META_IIFNAME))).cmp(1, &ifname_bytes(name))
    }

    /// `meta iifkind == kind` (the input link's rtnetlink kind, e.g. "bridge").
    pub fn iifkind(self, kind: &str) -> Exprs {
        self.push("meta", Some(Attrs::new().u32(1, NFT_REG_1).u32(2, NFT_META_IIFKIND))).cmp(0, &ifname_bytes(kind))
    }

    /// `ct state & bits != 0` (op 1: any of them) or `== 0` (op 0: none of them).
    pub fn ct_state(self, op: u32, bits: u32) -> Exprs {
        self.push("ct", Some(Attrs::new().u32(1, NFT_REG_1).u32(2, NFT_CT_STATE)))
            .bitwise_native(bits, 0)
            .cmp(op, &0u32.to_ne_bytes())
    }

    /// `meta mark & bit == bit`.
    pub fn mark_has(self, bit: u32) -> Exprs {
        self.push("meta", Some(Attrs::new().u32(1, NFT_REG_1).u32(2, NFT_META_MARK)))
            .bitwise_native(bit, 0)
            .cmp(0, &bit.to_ne_bytes())
    }

    /// `meta mark set mark | bit`.
    pub fn mark_or(self, bit: u32) -> Exprs {
        self.push("meta", Some(Attrs::new().u32(1, NFT_REG_1).u32(2, NFT_META_MARK)))
            .bitwise_native(!bit, bit)
            .push("meta", Some(Attrs::new().u32(2, NFT_META_MARK).u32(3, NFT_REG_1)))
    }

    /// reg1 = (reg1 & mask) ^ xor, on a host-endian u32 (marks, ct state).
    fn bitwise_native(self, mask: u32, xor: u32) -> Exprs {
        let d = Attrs::new()
            .u32(1, NFT_REG_1)
            .u32(2, NFT_REG_1)
            .u32(3, 4)
            .nested(4, Attrs::new().bytes(NFTA_DATA_VALUE, &mask.to_ne_bytes()))
            .nested(5, Attrs::new().bytes(NFTA_DATA_VALUE, &xor.to_ne_bytes()));
        self.push("bitwise", Some(d))
    }

    /// Load `value` into register `reg`.
    fn immediate(self, reg: u32, value: &[u8]) -> Exprs {
        let d = Attrs::new().u32(1, reg).nested(2, Attrs::new().bytes(NFTA_DATA_VALUE, value));
        self.push("immediate", Some(d))
    }

    /// `dnat to addr:port`, for `family` (NFPROTO_IPV4 or NFPROTO_IPV6).
    pub fn dnat(self, family: u8, addr: &[u8], port: u16) -> Exprs {
        let d = Attrs::new().u32(1, NFT_NAT_DNAT).u32(2, family as u32).u32(3, NFT_REG_1).u32(5, NFT_REG_2);
        self.immediate(NFT_REG_1, addr).immediate(NFT_REG_2, &port.to_be_bytes()).push("nat", Some(d))
    }
}
