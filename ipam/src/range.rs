//! Address ranges and range sets, with host-local's canonicalisation rules
//! (plugins/ipam/host-local/backend/allocator/range.go).

use cni::Error;
use cni::net::{from_u128, parse_cidr, parse_ip, to_u128};
use ipnetwork::IpNetwork;
use serde::Deserialize;
use std::net::IpAddr;

/// A range as written in the config; every field is checked by [`RangeConf::canonicalize`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RangeConf {
    pub subnet: String,
    #[serde(rename = "rangeStart")]
    pub range_start: String,
    #[serde(rename = "rangeEnd")]
    pub range_end: String,
    pub gateway: String,
}

/// A validated range: `start..=end` inside `subnet`, never handing out `gateway`.
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    pub subnet: IpNetwork,
    pub start: IpAddr,
    pub end: IpAddr,
    pub gateway: IpAddr,
}

/// One entry of `ranges`: a pool of disjoint ranges of one family; an ADD takes one address from it.
pub type RangeSet = Vec<Range>;

impl RangeConf {
    /// Validate and fill defaults. `at` is the JSON path of this range, for messages.
    pub fn canonicalize(&self, at: &str) -> Result<Range, Error> {
        let field = |name: &str| format!("{at}.{name}");
        let subnet = parse_cidr(&self.subnet).ok_or_else(|| {
            Error::config(field("subnet"), format!("{:?} is not a CIDR such as 10.1.0.0/16", self.subnet))
        })?;
        let bits = if subnet.is_ipv4() { 32 } else { 128 };
        if subnet.prefix() > bits - 2 {
            return Err(Error::config(field("subnet"), format!("{subnet} is too small to allocate from")));
        }
        if subnet.ip() != subnet.network() {
            return Err(Error::config(
                field("subnet"),
                format!("{subnet} has host bits set; the network address is {}/{}", subnet.network(), subnet.prefix()),
            ));
        }
        let addr_in_subnet = |name: &str, raw: &str| -> Result<Option<IpAddr>, Error> {
            if raw.is_empty() {
                return Ok(None);
            }
            match parse_ip(raw) {
                Some(ip) if subnet.contains(ip) => Ok(Some(ip)),
                Some(ip) => Err(Error::config(field(name), format!("{ip} is not in subnet {subnet}"))),
                None => Err(Error::config(field(name), format!("{raw:?} is not an IP address"))),
            }
        };
        let first = from_u128(to_u128(subnet.network()) + 1, subnet.ip());
        let gateway = match self.gateway.as_str() {
            "" => first,
            raw => {
                parse_ip(raw).ok_or_else(|| Error::config(field("gateway"), format!("{raw:?} is not an IP address")))?
            }
        };
        let start = addr_in_subnet("rangeStart", &self.range_start)?.unwrap_or(first);
        let end = addr_in_subnet("rangeEnd", &self.range_end)?.unwrap_or_else(|| last_ip(subnet));
        if to_u128(start) > to_u128(end) {
            return Err(Error::config(field("rangeStart"), format!("{start} is after rangeEnd {end}")));
        }
        Ok(Range { subnet, start, end, gateway })
    }
}

/// The last usable address: the broadcast address minus one for IPv4, the last address for IPv6.
fn last_ip(subnet: IpNetwork) -> IpAddr {
    let last = to_u128(subnet.broadcast());
    from_u128(if subnet.is_ipv4() { last - 1 } else { last }, subnet.ip())
}

impl Range {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.subnet.contains(ip) && (to_u128(self.start)..=to_u128(self.end)).contains(&to_u128(ip))
    }

    fn overlaps(&self, other: &Range) -> bool {
        self.subnet.is_ipv4() == other.subnet.is_ipv4()
            && (self.contains(other.start)
                || self.contains(other.end)
                || other.contains(self.start)
                || other.contains(self.end))
    }
}

/// Validate one range set: not empty, one family, no overlap inside it.
pub fn canonicalize_set(confs: &[RangeConf], at: &str) -> Result<RangeSet, Error> {
    if confs.is_empty() {
        return Err(Error::config(at, "empty range set"));
    }
    let set: RangeSet =
        confs.iter().enumerate().map(|(i, r)| r.canonicalize(&format!("{at}[{i}]"))).collect::<Result<_, _>>()?;
    let v4 = set[0].subnet.is_ipv4();
    if let Some(i) = set.iter().position(|r| r.subnet.is_ipv4() != v4) {
        return Err(Error::config(format!("{at}[{i}].subnet"), "mixed address families in one range set"));
    }
    for (i, a) in set.iter().enumerate() {
        if let Some(j) = set[i + 1..].iter().position(|b| a.overlaps(b)) {
            return Err(Error::config(
                format!("{at}[{}]", i + 1 + j),
                format!("subnet {} overlaps with {at}[{i}] ({})", set[i + 1 + j].subnet, a.subnet),
            ));
        }
    }
    Ok(set)
}

pub fn set_contains(set: &RangeSet, ip: IpAddr) -> bool {
    set.iter().any(|r| r.contains(ip))
}

pub fn sets_overlap(a: &RangeSet, b: &RangeSet) -> bool {
    a.iter().any(|x| b.iter().any(|y| x.overlaps(y)))
}

pub fn describe(set: &RangeSet) -> String {
    let parts: Vec<String> = set.iter().map(|r| format!("{}-{}", r.start, r.end)).collect();
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(subnet: &str) -> RangeConf {
        RangeConf { subnet: subnet.into(), ..RangeConf::default() }
    }

    #[test]
    fn defaults_follow_the_reference() {
        let r = conf("10.1.2.0/24").canonicalize("r").unwrap();
        assert_eq!(r.start.to_string(), "10.1.2.1");
        assert_eq!(r.end.to_string(), "10.1.2.254");
        assert_eq!(r.gateway.to_string(), "10.1.2.1");
        let r6 = conf("fd00::/120").canonicalize("r").unwrap();
        assert_eq!(r6.end.to_string(), "fd00::ff");
    }

    #[test]
    fn bad_ranges_name_their_field() {
        let cases = [
            (conf("10.1.2.3/24"), "r.subnet", "host bits"),
            (conf("10.1.2.0/31"), "r.subnet", "too small"),
            (conf("10.1.2.0"), "r.subnet", "CIDR"),
            (RangeConf { range_start: "10.9.0.1".into(), ..conf("10.1.2.0/24") }, "r.rangeStart", "not in subnet"),
            (RangeConf { range_end: "x".into(), ..conf("10.1.2.0/24") }, "r.rangeEnd", "not an IP"),
            (RangeConf { gateway: "x".into(), ..conf("10.1.2.0/24") }, "r.gateway", "not an IP"),
            (
                RangeConf { range_start: "10.1.2.9".into(), range_end: "10.1.2.5".into(), ..conf("10.1.2.0/24") },
                "r.rangeStart",
                "after",
            ),
        ];
        for (c, field, why) in cases {
            let e = c.canonicalize("r").unwrap_err().to_string();
            assert!(e.starts_with(field) && e.contains(why), "{e}");
        }
    }

    #[test]
    fn sets_check_family_and_overlap() {
        let e = canonicalize_set(&[conf("10.0.0.0/24"), conf("fd00::/64")], "s").unwrap_err();
        assert!(e.to_string().contains("mixed"), "{e}");
        let e = canonicalize_set(&[conf("10.0.0.0/16"), conf("10.0.1.0/24")], "s").unwrap_err();
        assert!(e.to_string().contains("overlaps"), "{e}");
        let a = canonicalize_set(&[conf("10.0.0.0/16")], "a").unwrap();
        let b = canonicalize_set(&[conf("10.0.5.0/24")], "b").unwrap();
        assert!(sets_overlap(&a, &b));
    }
}
