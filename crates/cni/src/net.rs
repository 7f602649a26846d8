//! Address parsing with Go's `net` package semantics, which configs were written against.

use ipnetwork::IpNetwork;
use std::net::IpAddr;

/// An IPv4-mapped IPv6 address is the IPv4 address, as Go's `To4` treats it.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// A bare address (`net.ParseIP`).
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    s.parse().ok().map(canonical)
}

/// An address with a prefix length; the host bits are kept (`net.ParseCIDR` plus the IP).
pub fn parse_cidr(s: &str) -> Option<IpNetwork> {
    let (addr, prefix) = s.split_once('/')?;
    let ip = parse_ip(addr)?;
    let prefix: u8 = prefix.parse().ok()?;
    IpNetwork::new(ip, prefix).ok()
}

/// An address given either bare or as a CIDR (host-local's `ip.IP`).
pub fn parse_ip_or_cidr(s: &str) -> Option<IpAddr> {
    parse_cidr(s).map(|n| n.ip()).or_else(|| parse_ip(s))
}

/// The address as an integer, for range arithmetic.
pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u32::from(v4) as u128,
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The integer back as an address of `like`'s family.
pub fn from_u128(n: u128, like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4((n as u32).into()),
        IpAddr::V6(_) => IpAddr::V6(n.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_semantics() {
        assert_eq!(parse_ip("::ffff:10.0.0.1"), parse_ip("10.0.0.1"));
        assert_eq!(parse_cidr("10.0.0.5/24").unwrap().ip().to_string(), "10.0.0.5");
        assert!(parse_cidr("10.0.0.5").is_none());
        assert!(parse_cidr("10.0.0.5/33").is_none());
        assert_eq!(parse_ip_or_cidr("10.0.0.5/24"), parse_ip("10.0.0.5"));
        assert_eq!(parse_ip_or_cidr("fd00::5"), parse_ip("fd00::5"));
        let ip = parse_ip("10.0.0.255").unwrap();
        assert_eq!(from_u128(to_u128(ip) + 1, ip).to_string(), "10.0.1.0");
    }
}
