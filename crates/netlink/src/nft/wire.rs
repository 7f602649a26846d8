//! nf_tables netlink encoding: attributes, messages and batches, and the
//! synchronous socket they travel on. Only what railcni's rules need.

use crate::Error;
use netlink_sys::{Socket, protocols::NETLINK_NETFILTER};

pub const NFNL_SUBSYS_NFTABLES: u16 = 10;
pub const NFPROTO_INET: u8 = 1;
pub const NFPROTO_BRIDGE: u8 = 7;

pub const NFT_MSG_NEWTABLE: u16 = 0;
pub const NFT_MSG_DELTABLE: u16 = 2;
pub const NFT_MSG_NEWCHAIN: u16 = 3;
pub const NFT_MSG_DELCHAIN: u16 = 5;
pub const NFT_MSG_NEWRULE: u16 = 6;
pub const NFT_MSG_GETRULE: u16 = 7;
pub const NFT_MSG_DELRULE: u16 = 8;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
/// DELCHAIN: refuse (EBUSY) unless the chain has no rules and nothing jumps to it.
pub const NLM_F_NONREC: u16 = 0x100;
pub const NLM_F_CREATE: u16 = 0x400;
pub const NLM_F_APPEND: u16 = 0x800;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NFNL_MSG_BATCH_BEGIN: u16 = 16;
const NFNL_MSG_BATCH_END: u16 = 17;
const NLA_F_NESTED: u16 = 0x8000;

/// An attribute list under construction.
#[derive(Default, Clone)]
pub struct Attrs(Vec<u8>);

impl Attrs {
    pub fn new() -> Attrs {
        Attrs::default()
    }

    pub fn bytes(mut self, kind: u16, value: &[u8]) -> Attrs {
        let len = 4 + value.len();
        self.0.extend_from_slice(&(len as u16).to_ne_bytes());
        self.0.extend_from_slice(&kind.to_ne_bytes());
        self.0.extend_from_slice(value);
        self.0.resize(self.0.len().next_multiple_of(4), 0);
        self
    }

    pub fn str(self, kind: u16, s: &str) -> Attrs {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.bytes(kind, &v)
    }

    /// nf_tables integers are big-endian.
    pub fn u32(self, kind: u16, v: u32) -> Attrs {
        self.bytes(kind, &v.to_be_bytes())
    }

    pub fn u64(self, kind: u16, v: u64) -> Attrs {
        self.bytes(kind, &v.to_be_bytes())
    }

    pub fn nested(self, kind: u16, inner: Attrs) -> Attrs {
        self.bytes(kind | NLA_F_NESTED, &inner.0)
    }
}

/// Walk the attributes in `buf`: (type without flags, payload).
pub fn parse_attrs(mut buf: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while buf.len() >= 4 {
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let kind = u16::from_ne_bytes([buf[2], buf[3]]) & !NLA_F_NESTED;
        if len < 4 || len > buf.len() {
            break;
        }
        out.push((kind, &buf[4..len]));
        buf = &buf[len.next_multiple_of(4).min(buf.len())..];
    }
    out
}

fn message(out: &mut Vec<u8>, kind: u16, flags: u16, seq: u32, family: u8, res_id: u16, attrs: &Attrs) {
    let len = 16 + 4 + attrs.0.len();
    out.extend_from_slice(&(len as u32).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(&[family, 0]);
    out.extend_from_slice(&res_id.to_be_bytes());
    out.extend_from_slice(&attrs.0);
}

/// One nf_tables change inside a batch.
pub struct Change {
    pub msg: u16,
    pub flags: u16,
    pub attrs: Attrs,
}

pub struct Nft {
    socket: Socket,
}

impl Nft {
    /// A netfilter socket in the calling thread's namespace.
    pub fn open() -> Result<Nft, Error> {
        let io = |what: &str, e| Error::Io { what: what.into(), source: e };
        let mut socket = Socket::new(NETLINK_NETFILTER).map_err(|e| io("opening a netfilter socket", e))?;
        socket.bind_auto().map_err(|e| io("binding the netfilter socket", e))?;
        Ok(Nft { socket })
    }

    /// Apply `changes` to tables of `family` atomically, as one transaction.
    pub fn commit(&self, family: u8, changes: &[Change], op: &str) -> Result<(), Error> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        message(&mut buf, NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 0, 0, NFNL_SUBSYS_NFTABLES, &Attrs::new());
        for (i, c) in changes.iter().enumerate() {
            let kind = (NFNL_SUBSYS_NFTABLES << 8) | c.msg;
            message(&mut buf, kind, NLM_F_REQUEST | NLM_F_ACK | c.flags, i as u32 + 1, family, 0, &c.attrs);
        }
        message(&mut buf, NFNL_MSG_BATCH_END, NLM_F_REQUEST, 0, 0, NFNL_SUBSYS_NFTABLES, &Attrs::new());
        self.send(&buf, op)?;
        // A kill point for the fault tests: the kernel applies the batch during the send.
        crate::fault::step(op);
        let mut acked = 0;
        while acked < changes.len() {
            for (kind, payload) in self.recv(op)? {
                if kind == NLMSG_ERROR {
                    check_ack(&payload, op)?;
                    acked += 1;
                }
            }
        }
        Ok(())
    }

    /// Dump objects with `msg` (a GET), returning each reply's attributes.
    pub fn dump(&self, family: u8, msg: u16, attrs: &Attrs, op: &str) -> Result<Vec<Vec<u8>>, Error> {
        let mut buf = Vec::new();
        message(&mut buf, (NFNL_SUBSYS_NFTABLES << 8) | msg, NLM_F_REQUEST | NLM_F_DUMP, 1, family, 0, attrs);
        self.send(&buf, op)?;
        let mut out = Vec::new();
        loop {
            for (kind, payload) in self.recv(op)? {
                match kind {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => check_ack(&payload, op)?,
                    // Skip the nfgenmsg header before the attributes.
                    _ if payload.len() >= 4 => out.push(payload[4..].to_vec()),
                    _ => {}
                }
            }
        }
    }

    fn send(&self, buf: &[u8], op: &str) -> Result<(), Error> {
        self.socket.send(buf, 0).map(|_| ()).map_err(|e| Error::Io { what: format!("{op}: sending"), source: e })
    }

    /// One datagram, split into (type, payload) messages.
    fn recv(&self, op: &str) -> Result<Vec<(u16, Vec<u8>)>, Error> {
        let (data, _) =
            self.socket.recv_from_full().map_err(|e| Error::Io { what: format!("{op}: receiving"), source: e })?;
        let mut out = Vec::new();
        let mut rest = &data[..];
        while rest.len() >= 16 {
            let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let kind = u16::from_ne_bytes([rest[4], rest[5]]);
            if len < 16 || len > rest.len() {
                break;
            }
            out.push((kind, rest[16..len].to_vec()));
            rest = &rest[len.next_multiple_of(4).min(rest.len())..];
        }
        Ok(out)
    }
}

/// An NLMSG_ERROR payload: errno 0 is an ack.
fn check_ack(payload: &[u8], op: &str) -> Result<(), Error> {
    let code = payload.get(..4).map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]])).unwrap_or(0);
    if code == 0 { Ok(()) } else { Err(Error::Kernel { op: op.to_string(), errno: -code }) }
}
