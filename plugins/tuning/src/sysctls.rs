//! The `sysctl` key: which keys may be written, and where they live below
//! `/proc/sys`. Keys are dotted (`net.ipv4.conf.IFNAME.arp_ignore`) or, for
//! interface names with dots in them, slashed (`net/ipv4/conf/eth0.100/...`).

use cni::Error;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use std::fmt;

/// The node's allowlist: one regular expression per line; when the file
/// exists, every key must match one of them.
pub const ALLOWLIST: &str = "/etc/cni/tuning/allowlist.conf";

#[derive(Debug, Clone, PartialEq)]
pub struct Sysctl {
    /// As configured, for messages and the allowlist.
    pub key: String,
    /// The slash path below `/proc/sys`, `IFNAME` substituted.
    pub path: String,
    pub value: String,
}

/// The slash path of `key` for interface `ifname`. `IFNAME` is substituted
/// after the dots become slashes, so a name with a dot in it (`net1.100`)
/// stays one path component (the reference splits it).
pub fn path_of(key: &str, ifname: &str) -> String {
    let slashed = if key.contains('/') { key.to_string() } else { key.replace('.', "/") };
    slashed.replace("IFNAME", ifname)
}

/// The sysctls of `map` (from config key `field`), validated: only `net.*`
/// keys, no path component empty or a parent reference, no key twice.
pub fn parse(
    map: &serde_json::Map<String, serde_json::Value>,
    field: &str,
    ifname: &str,
) -> Result<Vec<Sysctl>, Error> {
    let mut out: Vec<Sysctl> = Vec::new();
    for (key, value) in map {
        let value = value
            .as_str()
            .ok_or_else(|| Error::config(format!("{field}.{key}"), format!("{value} is not a string")))?;
        let path = path_of(key, ifname);
        let parts: Vec<&str> = path.split('/').collect();
        if parts[0] != "net" || parts.len() < 2 || parts.iter().any(|p| p.is_empty() || *p == "." || *p == "..") {
            return Err(Error::config(field, format!("{key:?} is not a net.* sysctl")));
        }
        if let Some(first) = out.iter().find(|s| s.path == path) {
            return Err(Error::config(field, format!("{key:?} and {:?} are the same sysctl", first.key)));
        }
        out.push(Sysctl { key: key.clone(), path, value: value.to_string() });
    }
    Ok(out)
}

/// Refuse a `sysctl` object that names a key twice in the raw config (JSON
/// decoders keep the last silently, so the first value would be lost).
pub fn refuse_repeated_keys(stdin: &[u8]) -> Result<(), Error> {
    let mut de = serde_json::Deserializer::from_slice(stdin);
    match de.deserialize_map(TopLevel) {
        Ok(Some(key)) => Err(Error::config("sysctl", format!("{key:?} is given twice"))),
        // Unreadable input was already refused (code 6) by the protocol layer.
        _ => Ok(()),
    }
}

/// Finds the first repeated key of the top-level `sysctl` object (matched
/// case-insensitively, as Go matches keys).
struct TopLevel;

impl<'de> Visitor<'de> for TopLevel {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
        let mut repeated = None;
        while let Some(key) = map.next_key::<String>()? {
            if key.eq_ignore_ascii_case("sysctl") {
                if let Some(k) = map.next_value_seed(SysctlObject)? {
                    repeated.get_or_insert(k);
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(repeated)
    }
}

struct SysctlObject;

impl<'de> serde::de::DeserializeSeed<'de> for SysctlObject {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SysctlObject {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
        let mut seen: Vec<String> = Vec::new();
        let mut repeated = None;
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<IgnoredAny>()?;
            if seen.contains(&key) {
                repeated.get_or_insert(key);
            } else {
                seen.push(key);
            }
        }
        Ok(repeated)
    }

    // Any other type is the decoder's to refuse.
    fn visit_unit<E>(self) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Option<String>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// Every key must match a pattern of the allowlist file at `file`, if it exists.
pub fn check_allowlist(sysctls: &[Sysctl], field: &str, file: &str) -> Result<(), Error> {
    if sysctls.is_empty() {
        return Ok(());
    }
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(format!("reading {file}"), e)),
    };
    check_against(sysctls, field, file, &text)
}

fn check_against(sysctls: &[Sysctl], field: &str, file: &str, text: &str) -> Result<(), Error> {
    let mut patterns = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let re = regex::Regex::new(line)
            .map_err(|e| Error::config(field, format!("{file}: pattern {line:?} does not compile: {e}")))?;
        patterns.push(re);
    }
    for s in sysctls {
        // The configured key, before IFNAME is substituted, as the reference matches it.
        if !patterns.iter().any(|p| p.is_match(&s.key)) {
            return Err(Error::config(field, format!("{:?} is not allowed by {file}", s.key)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn dotted_and_slashed_keys_name_the_same_path() {
        assert_eq!(path_of("net.ipv4.conf.IFNAME.arp_ignore", "net1.100"), "net/ipv4/conf/net1.100/arp_ignore");
        assert_eq!(path_of("net/ipv4/conf/eth0.5/rp_filter", "x"), "net/ipv4/conf/eth0.5/rp_filter");
        let m = map(json!({"net.ipv4.conf.net1.arp_ignore": "1", "net/ipv4/conf/IFNAME/arp_ignore": "2"}));
        let e = parse(&m, "sysctl", "net1").unwrap_err();
        assert_eq!(e.code(), 7);
        assert!(e.to_string().contains("same sysctl"), "{e}");
    }

    #[test]
    fn only_net_keys() {
        for bad in ["kernel.pid_max", "net", "net..ipv4", "net/../kernel/x", "netfoo.x"] {
            let e = parse(&map(json!({ bad: "1" })), "sysctl", "eth0").unwrap_err();
            assert_eq!(e.code(), 7, "{bad}");
        }
        let e = parse(&map(json!({"net.core.somaxconn": 5})), "sysctl", "eth0").unwrap_err();
        assert!(e.to_string().contains("sysctl.net.core.somaxconn"), "{e}");
    }

    #[test]
    fn repeated_raw_keys_are_refused() {
        let raw = br#"{"cniVersion":"1.0.0","SysCtl":{"net.a.b":"1","net.a.b":"2"}}"#;
        assert_eq!(refuse_repeated_keys(raw).unwrap_err().code(), 7);
        assert!(refuse_repeated_keys(br#"{"sysctl":{"net.a.b":"1"},"x":{"y":1,"y":2}}"#).is_ok());
        assert!(refuse_repeated_keys(br#"{"sysctl":null}"#).is_ok());
    }

    #[test]
    fn allowlist_matches_the_configured_key() {
        let s = parse(&map(json!({"net.ipv4.conf.IFNAME.arp_ignore": "1"})), "sysctl", "net1").unwrap();
        assert!(check_against(&s, "sysctl", "f", "\n^net\\.ipv4\\.conf\\.IFNAME\\.[a-z_]*$\n").is_ok());
        let e = check_against(&s, "sysctl", "f", "^net\\.core\\.").unwrap_err();
        assert_eq!(e.code(), 7);
        assert!(check_allowlist(&s, "sysctl", "/nonexistent/allowlist.conf").is_ok());
    }
}
