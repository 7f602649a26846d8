//! Traffic control for rate limits: a token bucket (tbf) as a link's root
//! qdisc, or an htb tree (root, classes, u32 filters on an address), the
//! ingress qdisc with a u32 match-all filter whose mirred action redirects
//! what a link receives to an ifb device, and the ifb device itself.
//! netlink-packet-route has the ingress qdisc, u32 and mirred; tbf's and
//! htb's options are not in it, so they are built here from the kernel's
//! `struct tc_tbf_qopt`, `tc_htb_glob` and `tc_htb_opt`
//! (include/uapi/linux/pkt_sched.h).

use crate::{Error, Netlink};
use netlink_packet_core::{DefaultNla, NLM_F_CREATE, NLM_F_EXCL, Nla, NlaBuffer, NlasIterator};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::tc::{
    TcAction, TcActionAttribute, TcActionMirror, TcActionMirrorOption, TcActionOption, TcActionType, TcAttribute,
    TcFilterU32, TcFilterU32Option, TcHandle, TcMessage, TcMirror, TcMirrorActionType, TcOption, TcU32Key,
    TcU32Selector, TcU32SelectorFlags,
};
use rtnetlink::LinkIfb;

const TBF: &str = "tbf";
const INGRESS: &str = "ingress";
/// TCA_TBF_PARMS, TCA_TBF_RATE64 and TCA_TBF_BURST.
const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RATE64: u16 = 4;
/// TC_LINKLAYER_ETHERNET: with it the kernel needs no rate table.
const LINKLAYER_ETHERNET: u8 = 1;
/// ETH_P_ALL, as tc's `protocol all`.
const ETH_P_ALL: u16 = 0x0003;
/// The u32 filter's priority (`pref`), as the reference's.
const FILTER_PRIORITY: u16 = 1;
/// The priority of the IPv4 subnet filters of an htb tree (IPv6's is the next).
const SUBNET_FILTER_PRIORITY: u16 = 16;

/// A token bucket, in the kernel's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tbf {
    /// Bytes per second.
    pub rate: u64,
    /// The bucket size as the time to send it at `rate`, in psched ticks.
    pub buffer: u32,
    /// Bytes that may wait in the queue.
    pub limit: u32,
}

/// A qdisc on a link, as far as the rate limits care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qdisc {
    pub kind: String,
    pub handle: u32,
    pub parent: u32,
    /// The token bucket of a tbf.
    pub tbf: Option<Tbf>,
    /// The default class (minor) of an htb.
    pub htb_default: Option<u32>,
}

impl Qdisc {
    pub fn is_root(&self) -> bool {
        self.parent == u32::from(TcHandle::ROOT)
    }

    pub fn is_ingress(&self) -> bool {
        self.kind == INGRESS
    }
}

/// psched ticks per microsecond, from `/proc/net/psched` (15.625 on every
/// kernel since 2.6.32, whose psched tick is 64 ns).
pub fn ticks_per_usec() -> Result<f64, Error> {
    let text = std::fs::read_to_string("/proc/net/psched")
        .map_err(|source| Error::Io { what: "reading /proc/net/psched".into(), source })?;
    let nums: Vec<u64> = text.split_whitespace().filter_map(|w| u64::from_str_radix(w, 16).ok()).collect();
    match nums.as_slice() {
        [t2us, us2t, clock_res, ..] if *us2t > 0 && *clock_res > 0 => {
            Ok(*t2us as f64 / *us2t as f64 * (*clock_res as f64 / 1_000_000.0))
        }
        _ => Err(Error::Netlink { op: "reading /proc/net/psched".into(), msg: format!("unexpected {text:?}") }),
    }
}

impl Tbf {
    /// The reference's bucket for `rate` bits/s and `burst` bits, with a
    /// 25 ms queue: same rate, buffer and limit, except that where the
    /// reference's 32-bit arithmetic wraps these saturate.
    pub fn from_bits(rate_bits: u64, burst_bits: u64, ticks_per_usec: f64) -> Tbf {
        let rate = (rate_bits / 8).max(1);
        let burst = burst_bits / 8;
        let usecs = burst as f64 * 1_000_000.0 / rate as f64;
        let buffer = (usecs * ticks_per_usec).min(u32::MAX as f64) as u32;
        let queued = (rate as f64 * 0.025) as u64;
        let limit = (queued + burst).min(u32::MAX as u64) as u32;
        Tbf { rate, buffer, limit }
    }

    /// `struct tc_tbf_qopt`: rate and peak rate (`struct tc_ratespec`), limit, buffer, mtu.
    fn parms(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(36);
        // tc_ratespec: cell_log u8, linklayer u8, overhead u16, cell_align i16, mpu u16, rate u32.
        b.extend_from_slice(&[0, LINKLAYER_ETHERNET, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&(self.rate.min(u32::MAX as u64) as u32).to_ne_bytes());
        b.extend_from_slice(&[0u8; 12]); // no peak rate
        b.extend_from_slice(&self.limit.to_ne_bytes());
        b.extend_from_slice(&self.buffer.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b
    }

    fn options(&self) -> Vec<TcOption> {
        let mut opts = vec![TcOption::Other(DefaultNla::new(TCA_TBF_PARMS, self.parms()))];
        if self.rate > u32::MAX as u64 {
            opts.push(TcOption::Other(DefaultNla::new(TCA_TBF_RATE64, self.rate.to_ne_bytes().to_vec())));
        }
        opts
    }

    /// A dumped tbf's TCA_OPTIONS (the nested attributes as one blob).
    fn parse(options: &[u8]) -> Option<Tbf> {
        let mut tbf = None;
        let mut rate64 = None;
        for nla in NlasIterator::new(options) {
            let nla: NlaBuffer<&[u8]> = nla.ok()?;
            let v = nla.value();
            match nla.kind() {
                TCA_TBF_PARMS if v.len() >= 36 => {
                    let u = |at: usize| u32::from_ne_bytes([v[at], v[at + 1], v[at + 2], v[at + 3]]);
                    tbf = Some(Tbf { rate: u(8) as u64, limit: u(24), buffer: u(28) });
                }
                TCA_TBF_RATE64 if v.len() >= 8 => {
                    rate64 = Some(u64::from_ne_bytes([v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]]));
                }
                _ => {}
            }
        }
        tbf.map(|t| Tbf { rate: rate64.unwrap_or(t.rate), ..t })
    }
}

/// HTB's options (`struct tc_htb_glob`, `struct tc_htb_opt`), also not in
/// netlink-packet-route.
const HTB: &str = "htb";
const TCA_HTB_PARMS: u16 = 1;
const TCA_HTB_INIT: u16 = 2;
const TCA_HTB_RATE64: u16 = 6;
const TCA_HTB_CEIL64: u16 = 7;
/// TC_HTB_PROTOVER, and tc's default rate-to-quantum divisor.
const HTB_VERSION: u32 = 3;
const HTB_R2Q: u32 = 10;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;

/// One class of an HTB tree: a rate (and the same ceiling) in bytes per
/// second, and its bucket as the time to send it, in psched ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HtbClass {
    pub minor: u16,
    pub rate: u64,
    pub buffer: u32,
}

/// `struct tc_ratespec` of `rate` bytes/s (saturated: the rest goes in a *64 attribute).
fn ratespec(rate: u64) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[1] = LINKLAYER_ETHERNET;
    b[8..12].copy_from_slice(&(rate.min(u32::MAX as u64) as u32).to_ne_bytes());
    b
}

impl HtbClass {
    fn options(&self) -> Vec<TcOption> {
        let mut parms = Vec::with_capacity(44);
        parms.extend_from_slice(&ratespec(self.rate));
        parms.extend_from_slice(&ratespec(self.rate));
        parms.extend_from_slice(&self.buffer.to_ne_bytes());
        parms.extend_from_slice(&self.buffer.to_ne_bytes());
        parms.extend_from_slice(&[0u8; 12]); // quantum (the kernel's choice), level, prio
        let mut opts = vec![TcOption::Other(DefaultNla::new(TCA_HTB_PARMS, parms))];
        if self.rate > u32::MAX as u64 {
            let r = self.rate.to_ne_bytes().to_vec();
            opts.push(TcOption::Other(DefaultNla::new(TCA_HTB_RATE64, r.clone())));
            opts.push(TcOption::Other(DefaultNla::new(TCA_HTB_CEIL64, r)));
        }
        opts
    }

    /// A dumped class's TCA_OPTIONS.
    fn parse(minor: u16, options: &[u8]) -> Option<HtbClass> {
        let mut class = None;
        let mut rate64 = None;
        for nla in NlasIterator::new(options) {
            let nla: NlaBuffer<&[u8]> = nla.ok()?;
            let v = nla.value();
            match nla.kind() {
                TCA_HTB_PARMS if v.len() >= 32 => {
                    let u = |at: usize| u32::from_ne_bytes([v[at], v[at + 1], v[at + 2], v[at + 3]]);
                    class = Some(HtbClass { minor, rate: u(8) as u64, buffer: u(24) });
                }
                TCA_HTB_RATE64 if v.len() >= 8 => {
                    rate64 = Some(u64::from_ne_bytes([v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]]));
                }
                _ => {}
            }
        }
        class.map(|c| HtbClass { rate: rate64.unwrap_or(c.rate), ..c })
    }
}

/// The default class of a dumped htb's TCA_OPTIONS (TCA_HTB_INIT's defcls).
fn htb_default(options: &[u8]) -> Option<u32> {
    NlasIterator::new(options).filter_map(Result::ok).find_map(|nla: NlaBuffer<&[u8]>| {
        let v = nla.value();
        (nla.kind() == TCA_HTB_INIT && v.len() >= 12).then(|| u32::from_ne_bytes([v[8], v[9], v[10], v[11]]))
    })
}

/// u32 keys matching `net` as the packet's source or destination address,
/// for protocol ip or ipv6 (offsets from the network header).
fn address_keys(net: ipnetwork::IpNetwork, source: bool) -> (u16, Vec<TcU32Key>) {
    let key = |mask: u32, val: u32, off: i32| {
        let mut k = TcU32Key::default();
        k.mask = mask;
        k.val = val & mask;
        k.off = off;
        k
    };
    match net {
        ipnetwork::IpNetwork::V4(n) => {
            let off = if source { 12 } else { 16 };
            (ETH_P_IP, vec![key(u32::from(n.mask()), u32::from(n.network()), off)])
        }
        ipnetwork::IpNetwork::V6(n) => {
            let base = if source { 8 } else { 24 };
            let (mask, addr) = (n.mask().octets(), n.network().octets());
            let word = |b: &[u8; 16], i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
            let keys = (0..4)
                .filter(|w| word(&mask, w * 4) != 0)
                .map(|w| key(word(&mask, w * 4), word(&addr, w * 4), base + 4 * w as i32))
                .collect();
            (ETH_P_IPV6, keys)
        }
    }
}

/// The raw bytes of an option the crate did not decode.
fn other_bytes(o: &TcOption) -> Option<Vec<u8>> {
    match o {
        TcOption::Other(nla) => {
            let mut b = vec![0u8; nla.value_len()];
            nla.emit_value(&mut b);
            Some(b)
        }
        _ => None,
    }
}

fn qdisc_from(msg: TcMessage) -> Qdisc {
    let mut kind = String::new();
    let mut options = Vec::new();
    for a in msg.attributes {
        match a {
            TcAttribute::Kind(k) => kind = k,
            TcAttribute::Options(o) => options = o,
            _ => {}
        }
    }
    let raw = options.first().and_then(other_bytes);
    let tbf = raw.as_deref().filter(|_| kind == TBF).and_then(Tbf::parse);
    let htb_default = raw.as_deref().filter(|_| kind == HTB).and_then(htb_default);
    Qdisc { kind, handle: msg.header.handle.into(), parent: msg.header.parent.into(), tbf, htb_default }
}

fn message(index: u32) -> TcMessage {
    let mut msg = TcMessage::default();
    msg.header.index = index as i32;
    msg
}

impl Netlink {
    /// Create an ifb device, up, with the given MTU and queue length (a
    /// redirected packet must fit the device it is redirected to).
    pub async fn add_ifb(&self, name: &str, mtu: u32, txqueuelen: u32) -> Result<(), Error> {
        let msg = LinkIfb::new(name).mtu(mtu).txqueuelen(txqueuelen).up().build();
        self.add_link(msg, &format!("creating ifb {name}")).await
    }

    /// The qdiscs of link `index`.
    pub async fn qdiscs(&self, index: u32) -> Result<Vec<Qdisc>, Error> {
        let op = format!("listing the qdiscs of #{index}");
        let all = self
            .dump_map(RouteNetlinkMessage::GetQueueDiscipline(message(index)), &op, |m| match m {
                RouteNetlinkMessage::NewQueueDiscipline(q) if q.header.index == index as i32 => Some(qdisc_from(q)),
                _ => None,
            })
            .await?;
        Ok(all)
    }

    /// `tc qdisc add dev #index root handle 1: tbf ...`.
    pub async fn add_root_tbf(&self, index: u32, tbf: &Tbf) -> Result<(), Error> {
        let mut msg = message(index);
        msg.header.parent = TcHandle::ROOT;
        msg.header.handle = TcHandle { major: 1, minor: 0 };
        msg.attributes.push(TcAttribute::Kind(TBF.into()));
        msg.attributes.push(TcAttribute::Options(tbf.options()));
        let op = format!("adding a tbf qdisc of {} bytes/s on #{index}", tbf.rate);
        self.ack(RouteNetlinkMessage::NewQueueDiscipline(msg), NLM_F_CREATE | NLM_F_EXCL, &op).await
    }

    /// `tc qdisc add dev #index ingress`.
    pub async fn add_ingress_qdisc(&self, index: u32) -> Result<(), Error> {
        let mut msg = message(index);
        msg.header.parent = TcHandle::INGRESS;
        msg.header.handle = TcHandle { major: 0xffff, minor: 0 };
        msg.attributes.push(TcAttribute::Kind(INGRESS.into()));
        let op = format!("adding the ingress qdisc on #{index}");
        self.ack(RouteNetlinkMessage::NewQueueDiscipline(msg), NLM_F_CREATE | NLM_F_EXCL, &op).await
    }

    /// `tc filter add dev #index parent ffff: protocol all prio 1 u32 match
    /// u32 0 0 action mirred egress redirect dev #to`: everything link
    /// `index` receives leaves through `to` instead.
    pub async fn add_ingress_redirect(&self, index: u32, to: u32) -> Result<(), Error> {
        let mut msg = message(index);
        msg.header.parent = TcHandle { major: 0xffff, minor: 0 };
        msg.header.info = u32::from(TcHandle { major: FILTER_PRIORITY, minor: ETH_P_ALL.to_be() });
        let mut sel = TcU32Selector::default();
        sel.flags = TcU32SelectorFlags::Terminal;
        sel.nkeys = 1;
        sel.keys = vec![TcU32Key::default()];
        let mut mirror = TcMirror::default();
        mirror.generic.action = TcActionType::Stolen;
        mirror.eaction = TcMirrorActionType::EgressRedir;
        mirror.ifindex = to;
        let mut action = TcAction::default();
        action.attributes = vec![
            TcActionAttribute::Kind(TcActionMirror::KIND.to_string()),
            TcActionAttribute::Options(vec![TcActionOption::Mirror(TcActionMirrorOption::Parms(mirror))]),
        ];
        msg.attributes.push(TcAttribute::Kind(TcFilterU32::KIND.to_string()));
        msg.attributes.push(TcAttribute::Options(vec![
            TcOption::U32(TcFilterU32Option::Selector(sel)),
            TcOption::U32(TcFilterU32Option::Action(vec![action])),
        ]));
        let op = format!("redirecting what #{index} receives to #{to}");
        self.ack(RouteNetlinkMessage::NewTrafficFilter(msg), NLM_F_CREATE | NLM_F_EXCL, &op).await
    }

    /// `tc qdisc add dev #index root handle 1: htb default <default>`.
    pub async fn add_root_htb(&self, index: u32, default: u16) -> Result<(), Error> {
        let mut glob = Vec::with_capacity(20);
        for v in [HTB_VERSION, HTB_R2Q, default as u32, 0, 0] {
            glob.extend_from_slice(&v.to_ne_bytes());
        }
        let mut msg = message(index);
        msg.header.parent = TcHandle::ROOT;
        msg.header.handle = TcHandle { major: 1, minor: 0 };
        msg.attributes.push(TcAttribute::Kind(HTB.into()));
        msg.attributes.push(TcAttribute::Options(vec![TcOption::Other(DefaultNla::new(TCA_HTB_INIT, glob))]));
        let op = format!("adding an htb qdisc on #{index}");
        self.ack(RouteNetlinkMessage::NewQueueDiscipline(msg), NLM_F_CREATE | NLM_F_EXCL, &op).await
    }

    /// `tc class add dev #index parent 1: classid 1:<minor> htb rate R ceil R burst B`.
    pub async fn add_htb_class(&self, index: u32, class: &HtbClass) -> Result<(), Error> {
        let mut msg = message(index);
        msg.header.parent = TcHandle { major: 1, minor: 0 };
        msg.header.handle = TcHandle { major: 1, minor: class.minor };
        msg.attributes.push(TcAttribute::Kind(HTB.into()));
        msg.attributes.push(TcAttribute::Options(class.options()));
        let op = format!("adding htb class 1:{:x} of {} bytes/s on #{index}", class.minor, class.rate);
        self.ack(RouteNetlinkMessage::NewTrafficClass(msg), NLM_F_CREATE | NLM_F_EXCL, &op).await
    }

    /// The htb classes of link `index`.
    pub async fn htb_classes(&self, index: u32) -> Result<Vec<HtbClass>, Error> {
        let op = format!("listing the classes of #{index}");
        self.dump_map(RouteNetlinkMessage::GetTrafficClass(message(index)), &op, |m| match m {
            RouteNetlinkMessage::NewTrafficClass(c) if c.header.index == index as i32 => {
                let minor = c.header.handle.minor;
                let mut kind = String::new();
                let mut raw = None;
                for a in c.attributes {
                    match a {
                        TcAttribute::Kind(k) => kind = k,
                        TcAttribute::Options(o) => raw = o.first().and_then(other_bytes),
                        _ => {}
                    }
                }
                (kind == HTB).then(|| raw.and_then(|r| HtbClass::parse(minor, &r))).flatten()
            }
            _ => None,
        })
        .await
    }

    /// `tc filter add dev #index parent 1: protocol ip[v6] prio 16[17] u32 match
    /// ip[6] src|dst <net> flowid 1:<minor>`.
    pub async fn add_subnet_filter(
        &self,
        index: u32,
        net: ipnetwork::IpNetwork,
        source: bool,
        minor: u16,
    ) -> Result<(), Error> {
        let (proto, keys) = address_keys(net, source);
        let mut msg = message(index);
        msg.header.parent = TcHandle { major: 1, minor: 0 };
        // One priority per protocol: the kernel keeps one classifier per (priority, protocol).
        let prio = if proto == ETH_P_IP { SUBNET_FILTER_PRIORITY } else { SUBNET_FILTER_PRIORITY + 1 };
        msg.header.info = u32::from(TcHandle { major: prio, minor: proto.to_be() });
        let mut sel = TcU32Selector::default();
        sel.flags = TcU32SelectorFlags::Terminal;
        sel.nkeys = keys.len() as u8;
        sel.keys = keys;
        msg.attributes.push(TcAttribute::Kind(TcFilterU32::KIND.to_string()));
        msg.attributes.push(TcAttribute::Options(vec![
            TcOption::U32(TcFilterU32Option::ClassId(TcHandle { major: 1, minor })),
            TcOption::U32(TcFilterU32Option::Selector(sel)),
        ]));
        let dir = if source { "from" } else { "to" };
        let op = format!("classifying traffic {dir} {net} on #{index} into 1:{minor:x}");
        self.ack(RouteNetlinkMessage::NewTrafficFilter(msg), NLM_F_CREATE | NLM_F_EXCL, &op).await
    }

    /// The devices the ingress filters of link `index` redirect to.
    pub async fn ingress_redirects(&self, index: u32) -> Result<Vec<u32>, Error> {
        let mut msg = message(index);
        msg.header.parent = TcHandle { major: 0xffff, minor: 0 };
        let op = format!("listing the ingress filters of #{index}");
        let filters = match self.dump(RouteNetlinkMessage::GetTrafficFilter(msg), &op).await {
            Ok(f) => f,
            // No ingress qdisc: no filters.
            Err(e) if e.errno() == Some(crate::error::EINVAL) || e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for m in filters {
            let RouteNetlinkMessage::NewTrafficFilter(f) = m else { continue };
            for a in f.attributes {
                let TcAttribute::Options(opts) = a else { continue };
                for o in opts {
                    let TcOption::U32(TcFilterU32Option::Action(actions)) = o else { continue };
                    for act in actions {
                        for aa in act.attributes {
                            let TcActionAttribute::Options(aos) = aa else { continue };
                            for ao in aos {
                                if let TcActionOption::Mirror(TcActionMirrorOption::Parms(m)) = ao {
                                    out.push(m.ifindex);
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Remove link `index`'s root qdisc (back to the kernel's default) or its
    /// ingress qdisc (and with it every ingress filter). Nothing there, or
    /// no link, is not an error.
    pub async fn delete_qdisc(&self, index: u32, ingress: bool) -> Result<(), Error> {
        let mut msg = message(index);
        if ingress {
            msg.header.parent = TcHandle::INGRESS;
            msg.header.handle = TcHandle { major: 0xffff, minor: 0 };
        } else {
            msg.header.parent = TcHandle::ROOT;
        }
        let which = if ingress { "ingress" } else { "root" };
        let op = format!("removing the {which} qdisc of #{index}");
        match self.ack(RouteNetlinkMessage::DelQueueDiscipline(msg), 0, &op).await {
            Err(e) if e.is_not_found() || e.errno() == Some(crate::error::EINVAL) => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::Emitable;

    #[test]
    fn buckets_match_the_reference_and_saturate() {
        // 10 Mbit/s, 10 kbit: 1.25 MB/s, 1250 bytes = 1 ms = 15625 ticks, 31250 + 1250 bytes queued.
        let t = Tbf::from_bits(10_000_000, 10_000, 15.625);
        assert_eq!(t, Tbf { rate: 1_250_000, buffer: 15_625, limit: 32_500 });
        // A burst of 4 GB at 8 bit/s wraps in the reference; here it saturates.
        let t = Tbf::from_bits(8, 8 * 4_000_000_000, 15.625);
        assert_eq!((t.buffer, t.limit), (u32::MAX, 4_000_000_000));
        // Below 8 bit/s the reference divides by zero.
        assert_eq!(Tbf::from_bits(1, 8, 15.625).rate, 1);
    }

    #[test]
    fn address_keys_match_the_right_words() {
        let (proto, keys) = address_keys("10.1.2.0/24".parse().unwrap(), true);
        assert_eq!(
            (proto, keys.len(), keys[0].off, keys[0].mask, keys[0].val),
            (ETH_P_IP, 1, 12, 0xffff_ff00, 0x0a01_0200)
        );
        let (proto, keys) = address_keys("2001:db8::/40".parse().unwrap(), false);
        assert_eq!(proto, ETH_P_IPV6);
        let words: Vec<(i32, u32, u32)> = keys.iter().map(|k| (k.off, k.mask, k.val)).collect();
        assert_eq!(words, vec![(24, 0xffff_ffff, 0x2001_0db8), (28, 0xff00_0000, 0)]);
    }

    #[test]
    fn htb_class_parms_round_trip() {
        let c = HtbClass { minor: 0x30, rate: 12_500_000_000, buffer: 1250 };
        let mut nested = Vec::new();
        for o in c.options() {
            let mut b = vec![0u8; o.buffer_len()];
            o.emit(&mut b);
            nested.extend(b);
        }
        assert_eq!(HtbClass::parse(0x30, &nested), Some(c));
    }

    #[test]
    fn parms_round_trip() {
        let t = Tbf { rate: 5_000_000_000, buffer: 77, limit: 99 };
        let mut nested = Vec::new();
        for o in t.options() {
            let mut b = vec![0u8; o.buffer_len()];
            o.emit(&mut b);
            nested.extend(b);
        }
        assert_eq!(Tbf::parse(&nested), Some(t));
    }
}
