//! Sysctls under `/proc/sys/net`. They belong to the namespace of the thread
//! that opens the file, so a pod's are written inside [`Netns::run`].
//!
//! Keys are slash paths below `/proc/sys` (`net/ipv4/ip_forward`): interface
//! names may contain dots, so the dotted form would be ambiguous.

use crate::{Error, Netns};

pub fn set(key: &str, value: &str) -> Result<(), Error> {
    let path = format!("/proc/sys/{key}");
    let written = std::fs::write(&path, value).map_err(|source| Error::Io { what: format!("writing {path}"), source });
    crate::fault::step("sysctl");
    written
}

pub fn get(key: &str) -> Result<String, Error> {
    let path = format!("/proc/sys/{key}");
    std::fs::read_to_string(&path)
        .map(|s| s.trim().to_string())
        .map_err(|source| Error::Io { what: format!("reading {path}"), source })
}

/// Turn on IPv4 and/or IPv6 forwarding in this namespace (routed pods need it).
pub fn enable_forwarding(v4: bool, v6: bool) -> Result<(), Error> {
    if v4 {
        set("net/ipv4/ip_forward", "1")?;
    }
    if v6 {
        set("net/ipv6/conf/all/forwarding", "1")?;
    }
    Ok(())
}

/// A per-interface key, e.g. `iface("ipv4", "eth0", "arp_notify")`.
pub fn iface(family: &str, ifname: &str, key: &str) -> String {
    format!("net/{family}/conf/{ifname}/{key}")
}

/// Write several sysctls inside `ns`, stopping at the first failure.
pub fn set_in(ns: &Netns, home: &Netns, pairs: &[(String, &str)]) -> Result<(), Error> {
    ns.run(home, || pairs.iter().try_for_each(|(k, v)| set(k, v)))?
}
