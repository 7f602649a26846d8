//! A network's ranges cut into node slices: which slice an address is in,
//! which addresses of a slice may be handed out, and the definition that is
//! stored on first use so that every node cuts the network the same way.

use cni::net::{from_u128, to_u128};
use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SliceMode {
    /// One flat subnet shared by every node (nv-ipam's IPPool, whereabouts).
    Flat,
    /// Each slice is its own subnet, its gateway at this offset (nv-ipam's CIDRPool).
    Routed { gateway_index: u128 },
}

/// A validated network: one pool per range (two for dual stack).
#[derive(Debug)]
pub struct Network {
    /// The key under which etcd holds it: `network_name`, or one derived from the ranges.
    pub id: String,
    pub name: String,
    pub overlapping: bool,
    pub mode: SliceMode,
    pub gateway: Option<IpAddr>,
    pub pools: Vec<Pool>,
}

/// One range, as integers: `start..=end` inside `cidr`, less `exclude` and the gateway.
#[derive(Debug, Clone)]
pub struct Pool {
    pub cidr: IpNetwork,
    pub start: u128,
    pub end: u128,
    pub exclude: Vec<(u128, u128)>,
    pub slice_prefix: u8,
    pub gateway: Option<u128>,
}

impl Pool {
    /// The pool's name in etcd keys: its CIDR with `/` made key-safe.
    pub fn key(&self) -> String {
        self.cidr.to_string().replace('/', "_")
    }

    fn bits(&self) -> u8 {
        if self.cidr.is_ipv4() { 32 } else { 128 }
    }

    pub fn slice_size(&self) -> u128 {
        1u128 << (self.bits() - self.slice_prefix)
    }

    pub fn slice_count(&self) -> u64 {
        1u64 << (self.slice_prefix - self.cidr.prefix()).min(63)
    }

    /// The subnet of slice `index`.
    pub fn slice_net(&self, index: u64) -> IpNetwork {
        let base = to_u128(self.cidr.network()) + u128::from(index) * self.slice_size();
        // In range by construction: index < slice_count and the prefix was validated.
        IpNetwork::new(from_u128(base, self.cidr.ip()), self.slice_prefix).unwrap_or(self.cidr)
    }

    pub fn slice_of(&self, ip: IpAddr) -> u64 {
        ((to_u128(ip) - to_u128(self.cidr.network())) / self.slice_size()) as u64
    }

    /// The addresses of slice `index` that may be handed out, in order.
    pub fn candidates(&self, index: u64, mode: SliceMode) -> Vec<IpAddr> {
        let net = self.slice_net(index);
        let (lo, hi) = (to_u128(net.network()), to_u128(net.broadcast()));
        let (mut from, mut to) = (lo.max(self.start), hi.min(self.end));
        let mut gateway = self.gateway;
        if let SliceMode::Routed { gateway_index } = mode {
            // The slice is a subnet of its own: not its network address, nor its v4 broadcast.
            from = from.max(lo + 1);
            to = to.min(hi - u128::from(self.cidr.is_ipv4()));
            gateway = Some(lo + gateway_index);
        }
        if from > to {
            return Vec::new();
        }
        (from..=to)
            .filter(|a| Some(*a) != gateway && !self.exclude.iter().any(|(x, y)| (*x..=*y).contains(a)))
            .map(|a| from_u128(a, self.cidr.ip()))
            .collect()
    }

    /// The address as the result gives it, and its gateway.
    pub fn address(&self, ip: IpAddr, mode: SliceMode) -> (IpNetwork, Option<IpAddr>) {
        match mode {
            SliceMode::Flat => (
                IpNetwork::new(ip, self.cidr.prefix()).unwrap_or(self.cidr),
                self.gateway.map(|g| from_u128(g, self.cidr.ip())),
            ),
            SliceMode::Routed { gateway_index } => {
                let net = self.slice_net(self.slice_of(ip));
                let gw = from_u128(to_u128(net.network()) + gateway_index, ip);
                (IpNetwork::new(ip, self.slice_prefix).unwrap_or(net), Some(gw))
            }
        }
    }
}

/// What is stored at the network's definition key on first use. Any node
/// whose config cuts the network differently is refused (code 7), since
/// its slices and addresses would not line up with the others'.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Definition {
    pub ranges: Vec<RangeDefinition>,
    pub routed: bool,
    pub gateway_index: Option<u64>,
    pub gateway: Option<String>,
    pub enable_overlapping_ranges: bool,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct RangeDefinition {
    pub range: String,
    pub range_start: String,
    pub range_end: String,
    pub exclude: Vec<String>,
    pub node_slice_size: String,
}

impl Network {
    pub fn definition(&self) -> Definition {
        let ranges = self
            .pools
            .iter()
            .map(|p| RangeDefinition {
                range: p.cidr.to_string(),
                range_start: from_u128(p.start, p.cidr.ip()).to_string(),
                range_end: from_u128(p.end, p.cidr.ip()).to_string(),
                exclude: p
                    .exclude
                    .iter()
                    .map(|(a, b)| format!("{}-{}", from_u128(*a, p.cidr.ip()), from_u128(*b, p.cidr.ip())))
                    .collect(),
                node_slice_size: format!("/{}", p.slice_prefix),
            })
            .collect();
        let (routed, gateway_index) = match self.mode {
            SliceMode::Flat => (false, None),
            SliceMode::Routed { gateway_index } => (true, Some(gateway_index as u64)),
        };
        Definition {
            ranges,
            routed,
            gateway_index,
            gateway: self.gateway.map(|g| g.to_string()),
            enable_overlapping_ranges: self.overlapping,
        }
    }

    /// The stored definition's bytes: compared byte for byte in every allocation.
    pub fn definition_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.definition()).unwrap_or_default()
    }
}

impl Definition {
    /// The first config field in which `stored` differs from `self`, for the error message.
    pub fn first_difference(&self, stored: &Definition) -> (String, String) {
        if self.ranges.len() != stored.ranges.len() {
            return ("ipam.ipRanges".into(), format!("{} ranges, stored {}", self.ranges.len(), stored.ranges.len()));
        }
        for (i, (a, b)) in self.ranges.iter().zip(&stored.ranges).enumerate() {
            let at = if i == 0 { "ipam".to_string() } else { format!("ipam.ipRanges[{i}]") };
            let pairs = [
                ("range", a.range.clone(), b.range.clone()),
                ("range_start", a.range_start.clone(), b.range_start.clone()),
                ("range_end", a.range_end.clone(), b.range_end.clone()),
                ("exclude", a.exclude.join(","), b.exclude.join(",")),
                ("node_slice_size", a.node_slice_size.clone(), b.node_slice_size.clone()),
            ];
            for (name, mine, theirs) in pairs {
                if mine != theirs {
                    let field =
                        if name == "node_slice_size" { "ipam.node_slice_size".into() } else { format!("{at}.{name}") };
                    return (field, format!("{mine:?} here, {theirs:?} in the stored definition"));
                }
            }
        }
        let top = [
            ("ipam.routed", self.routed.to_string(), stored.routed.to_string()),
            ("ipam.gateway_index", format!("{:?}", self.gateway_index), format!("{:?}", stored.gateway_index)),
            ("ipam.gateway", format!("{:?}", self.gateway), format!("{:?}", stored.gateway)),
            (
                "ipam.enable_overlapping_ranges",
                self.enable_overlapping_ranges.to_string(),
                stored.enable_overlapping_ranges.to_string(),
            ),
        ];
        for (field, mine, theirs) in top {
            if mine != theirs {
                return (field.into(), format!("{mine} here, {theirs} in the stored definition"));
            }
        }
        ("ipam".into(), "differs from the stored definition".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(cidr: &str, prefix: u8) -> Pool {
        let cidr: IpNetwork = cidr.parse().unwrap();
        let start = to_u128(cidr.network()) + 1;
        let end = to_u128(cidr.broadcast()) - 1;
        Pool { cidr, start, end, exclude: vec![], slice_prefix: prefix, gateway: None }
    }

    #[test]
    fn slices_cut_the_range() {
        let p = pool("10.0.0.0/24", 26);
        assert_eq!(p.slice_count(), 4);
        assert_eq!(p.slice_net(1).to_string(), "10.0.0.64/26");
        // Flat: the range's network and broadcast are never handed out, slice edges are.
        let c0 = p.candidates(0, SliceMode::Flat);
        assert_eq!((c0.len(), c0[0].to_string()), (63, "10.0.0.1".to_string()));
        assert_eq!(p.candidates(1, SliceMode::Flat).len(), 64);
        // Routed: each slice loses its network, broadcast and gateway.
        let r = p.candidates(1, SliceMode::Routed { gateway_index: 1 });
        assert_eq!((r.len(), r[0].to_string()), (61, "10.0.0.66".to_string()));
        let (addr, gw) = p.address("10.0.0.70".parse().unwrap(), SliceMode::Routed { gateway_index: 1 });
        assert_eq!((addr.to_string(), gw.unwrap().to_string()), ("10.0.0.70/26".into(), "10.0.0.65".into()));
        assert_eq!(p.slice_of("10.0.0.200".parse().unwrap()), 3);
    }

    #[test]
    fn exclude_and_gateway_are_skipped() {
        let mut p = pool("10.0.0.0/28", 28);
        p.gateway = Some(to_u128("10.0.0.1".parse().unwrap()));
        p.exclude = vec![(to_u128("10.0.0.4".parse().unwrap()), to_u128("10.0.0.7".parse().unwrap()))];
        let c: Vec<String> = p.candidates(0, SliceMode::Flat).iter().map(|a| a.to_string()).collect();
        assert_eq!(c.first().unwrap(), "10.0.0.2");
        assert!(!c.contains(&"10.0.0.5".to_string()) && c.len() == 9, "{c:?}");
    }
}
