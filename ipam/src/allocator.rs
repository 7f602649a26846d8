//! Address allocation over a [`Store`], following the reference's rules:
//! one address per range set, round-robin after the last reserved address,
//! the gateway never handed out, one allocation per (containerID, ifname).

use crate::error::Error;
use crate::range::{Range, RangeSet, describe, set_contains};
use crate::store::{Owner, Store};
use cni::net::{from_u128, to_u128};
use std::net::IpAddr;

/// An address handed out from range set `set`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Allocation {
    pub ip: IpAddr,
    pub prefix: u8,
    pub gateway: IpAddr,
    pub set: usize,
}

/// Allocate one address from every range set (`requested` pins some of them).
/// On failure, the addresses taken so far are released again.
pub fn allocate(
    store: &Store,
    ranges: &[RangeSet],
    requested: &[(IpAddr, usize)],
    owner: &Owner,
) -> Result<Vec<Allocation>, Error> {
    let held = store.held_by(owner)?;
    // Files from before host-local recorded the ifname hold only the ID; the
    // reference counts them as this container's on any interface.
    let legacy = store.held_by(&Owner::legacy(&owner.container_id))?;
    let mut made: Vec<Allocation> = Vec::new();
    for (idx, set) in ranges.iter().enumerate() {
        let pinned = requested.iter().find(|(_, s)| *s == idx).map(|(ip, _)| *ip);
        let got = match held.iter().chain(&legacy).find(|ip| set_contains(set, **ip)) {
            Some(ip) => Err(Error::Duplicate { ip: *ip, container_id: owner.container_id.clone() }),
            None => match pinned {
                Some(ip) => take_requested(store, set, idx, ip, owner),
                None => take_next(store, set, idx, owner),
            },
        };
        match got {
            Ok(a) => made.push(a),
            Err(e) => {
                for a in &made {
                    store.release(a.ip)?;
                }
                return Err(e);
            }
        }
    }
    let mut all = held;
    all.extend(made.iter().map(|a| a.ip));
    store.set_held(owner, &all)?;
    Ok(made)
}

fn take_requested(store: &Store, set: &RangeSet, idx: usize, ip: IpAddr, owner: &Owner) -> Result<Allocation, Error> {
    let range = set
        .iter()
        .find(|r| r.contains(ip))
        .ok_or_else(|| Error::Unavailable { ip, why: format!("is not in range set {}", describe(set)) })?;
    if ip == range.gateway {
        return Err(Error::Unavailable { ip, why: "is the subnet's gateway".into() });
    }
    if !store.reserve(ip, owner)? {
        return Err(Error::Unavailable { ip, why: format!("is already reserved in range set {}", describe(set)) });
    }
    store.set_last_reserved(idx, ip)?;
    Ok(Allocation { ip, prefix: range.subnet.prefix(), gateway: range.gateway, set: idx })
}

fn take_next(store: &Store, set: &RangeSet, idx: usize, owner: &Owner) -> Result<Allocation, Error> {
    let cursor = store.last_reserved(idx)?.filter(|ip| set_contains(set, *ip));
    for (range, ip) in Candidates::new(set, cursor) {
        if store.reserve(ip, owner)? {
            store.set_last_reserved(idx, ip)?;
            return Ok(Allocation { ip, prefix: range.subnet.prefix(), gateway: range.gateway, set: idx });
        }
    }
    Err(Error::Exhausted { range: describe(set) })
}

/// Every address of a range set once, starting after `cursor` (or at the
/// first range's start), wrapping around, skipping gateways — the
/// reference's `RangeIter`.
struct Candidates<'a> {
    set: &'a RangeSet,
    range: usize,
    next: u128,
    remaining: u128,
}

impl<'a> Candidates<'a> {
    fn new(set: &'a RangeSet, cursor: Option<IpAddr>) -> Candidates<'a> {
        let remaining = set.iter().map(|r| to_u128(r.end) - to_u128(r.start) + 1).sum();
        let mut it = Candidates { set, range: 0, next: to_u128(set[0].start), remaining };
        if let Some(ip) = cursor
            && let Some(i) = set.iter().position(|r| r.contains(ip))
        {
            it.range = i;
            it.next = to_u128(ip);
            it.advance();
        }
        it
    }

    fn advance(&mut self) {
        if self.next >= to_u128(self.set[self.range].end) {
            self.range = (self.range + 1) % self.set.len();
            self.next = to_u128(self.set[self.range].start);
        } else {
            self.next += 1;
        }
    }
}

impl<'a> Iterator for Candidates<'a> {
    type Item = (&'a Range, IpAddr);

    fn next(&mut self) -> Option<Self::Item> {
        while self.remaining > 0 {
            self.remaining -= 1;
            let range = &self.set[self.range];
            let ip = from_u128(self.next, range.start);
            self.advance();
            if ip != range.gateway {
                return Some((range, ip));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::range::RangeConf;

    fn set(subnets: &[&str]) -> RangeSet {
        subnets
            .iter()
            .map(|s| RangeConf { subnet: s.to_string(), ..RangeConf::default() }.canonicalize("r").unwrap())
            .collect()
    }

    fn ips(it: Candidates) -> Vec<String> {
        it.map(|(_, ip)| ip.to_string()).collect()
    }

    #[test]
    fn visits_every_address_once_skipping_the_gateway() {
        let s = set(&["10.0.0.0/29"]);
        assert_eq!(ips(Candidates::new(&s, None)), ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]);
    }

    #[test]
    fn starts_after_the_cursor_and_wraps_across_ranges() {
        let s = set(&["10.0.0.0/30", "10.0.1.0/30"]);
        let cursor = "10.0.0.2".parse().ok();
        assert_eq!(ips(Candidates::new(&s, cursor)), ["10.0.1.2", "10.0.0.2"]);
    }
}
