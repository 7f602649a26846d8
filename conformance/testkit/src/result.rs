//! Checking that an IPAM result has the shape of the requested cniVersion and
//! extracting its addresses.
//!
//! 0.1.0/0.2.0: `ip4`/`ip6` objects (`ip`, `gateway`, `routes` inside them);
//! 0.3.x/0.4.0: `ips[]` whose entries carry `"version":"4"|"6"`;
//! 1.x: `ips[]` without `version` (cni:pkg/types/{020,040,100}).
//!
//! Also what any interface plugin's result must agree on with the kernel
//! ([`result_ips`]), and its layout with run-specific names abstracted
//! ([`layout`], for the differential tests).

use crate::netns::Namespace;
use ipnetwork::IpNetwork;
use serde_json::{Value, json};
use std::net::IpAddr;

/// Every spec version, oldest first.
pub const ALL_VERSIONS: [&str; 7] = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

#[derive(Debug, Clone, PartialEq)]
pub struct IpEntry {
    pub address: IpNetwork,
    pub gateway: Option<IpAddr>,
}

#[derive(Debug, Clone, Default)]
pub struct ParsedResult {
    pub ips: Vec<IpEntry>,
    /// Routes as JSON (top-level for ≥0.3.0, merged from ip4/ip6 for older versions).
    pub routes: Vec<Value>,
    pub dns: Option<Value>,
}

impl ParsedResult {
    /// Just the addresses, without prefix.
    pub fn addrs(&self) -> Vec<IpAddr> {
        self.ips.iter().map(|e| e.address.ip()).collect()
    }
}

/// True for versions with the legacy `ip4`/`ip6` result.
pub fn is_legacy(version: &str) -> bool {
    matches!(version, "0.1.0" | "0.2.0")
}

/// Versions whose `ips[]` entries carry `version`.
pub fn has_ip_version_field(version: &str) -> bool {
    matches!(version, "0.3.0" | "0.3.1" | "0.4.0")
}

/// Versions that know CHECK.
pub fn has_check(version: &str) -> bool {
    !matches!(version, "0.1.0" | "0.2.0" | "0.3.0" | "0.3.1")
}

/// Validates `v` as a result of `version` and returns its contents.
pub fn parse(version: &str, v: &Value) -> Result<ParsedResult, String> {
    let obj = v.as_object().ok_or("result is not a JSON object")?;
    match obj.get("cniVersion").and_then(Value::as_str) {
        Some(got) if got == version => {}
        got => {
            return Err(format!("result cniVersion is {got:?}, expected {version:?}"));
        }
    }
    let dns = obj.get("dns").cloned();
    if is_legacy(version) {
        if obj.contains_key("ips") || obj.contains_key("interfaces") {
            return Err(format!("{version} result must not have ips/interfaces"));
        }
        let mut out = ParsedResult { dns, ..Default::default() };
        for (key, v4) in [("ip4", true), ("ip6", false)] {
            if let Some(o) = obj.get(key) {
                let (entry, routes) = parse_legacy_ip(key, o, v4)?;
                out.ips.push(entry);
                out.routes.extend(routes);
            }
        }
        return Ok(out);
    }
    if obj.contains_key("ip4") || obj.contains_key("ip6") {
        return Err(format!("{version} result must not have ip4/ip6"));
    }
    let ips = match obj.get("ips") {
        None => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err("ips is not an array".into()),
    };
    let mut out = ParsedResult { dns, ..Default::default() };
    for e in &ips {
        out.ips.push(parse_ip_entry(version, e)?);
    }
    match obj.get("routes") {
        None => {}
        Some(Value::Array(a)) => out.routes = a.clone(),
        Some(_) => return Err("routes is not an array".into()),
    }
    Ok(out)
}

fn parse_legacy_ip(key: &str, o: &Value, v4: bool) -> Result<(IpEntry, Vec<Value>), String> {
    let address = cidr(o.get("ip")).map_err(|e| format!("{key}.ip: {e}"))?;
    if address.is_ipv4() != v4 {
        return Err(format!("{key}.ip {address} has the wrong family"));
    }
    let gateway = opt_ip(o.get("gateway")).map_err(|e| format!("{key}.gateway: {e}"))?;
    let routes = match o.get("routes") {
        None => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(format!("{key}.routes is not an array")),
    };
    Ok((IpEntry { address, gateway }, routes))
}

fn parse_ip_entry(version: &str, e: &Value) -> Result<IpEntry, String> {
    let address = cidr(e.get("address")).map_err(|m| format!("ips[].address: {m}"))?;
    let gateway = opt_ip(e.get("gateway")).map_err(|m| format!("ips[].gateway: {m}"))?;
    let ver = e.get("version");
    if has_ip_version_field(version) {
        let want = if address.is_ipv4() { "4" } else { "6" };
        if ver.and_then(Value::as_str) != Some(want) {
            return Err(format!("{version}: ips entry for {address} must carry \"version\":\"{want}\", got {ver:?}"));
        }
    } else if ver.is_some() {
        return Err(format!("{version}: ips entries must not carry version, got {e}"));
    }
    Ok(IpEntry { address, gateway })
}

fn cidr(v: Option<&Value>) -> Result<IpNetwork, String> {
    let s = v.and_then(Value::as_str).ok_or("missing or not a string")?;
    if !s.contains('/') {
        return Err(format!("{s:?} has no prefix length"));
    }
    s.parse().map_err(|e| format!("{s:?}: {e}"))
}

fn opt_ip(v: Option<&Value>) -> Result<Option<IpAddr>, String> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|e| format!("{s:?}: {e}")),
        Some(other) => Err(format!("{other} is not a string")),
    }
}

/// The result's `ips[].address` in order, each of which must belong to
/// `interfaces[interface]` and be on `ifname` in `pod` (a global address).
pub fn result_ips(result: &Value, interface: u64, pod: &Namespace, ifname: &str) -> Result<Vec<String>, String> {
    let on_link = pod.global_addrs(ifname);
    let mut ips = Vec::new();
    for ip in result["ips"].as_array().cloned().unwrap_or_default() {
        if ip["interface"] != interface {
            return Err(format!("ips[] entry {ip} must have interface {interface}"));
        }
        let addr = ip["address"].as_str().unwrap_or("").to_string();
        if !on_link.contains(&addr) {
            return Err(format!("{addr} from the result is not on {ifname} ({on_link:?})"));
        }
        ips.push(addr);
    }
    Ok(ips)
}

/// The result with run-specific names replaced: the bridge by `<bridge>`,
/// the host veth by `veth<8 hex>` if it has that form, the sandbox path by
/// `<pod>`, MACs by whether there is one. An empty `dns`, `ips` or `routes`
/// counts as absent (Go prints `"dns":{}` for a result without DNS).
pub fn layout(result: &Value, bridge: &str, pod_path: &str) -> Value {
    let ifs: Vec<Value> = result["interfaces"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|i| {
            let name = i["name"].as_str().unwrap_or("");
            let name = if name == bridge {
                "<bridge>".to_string()
            } else if crate::lab::bridge::is_host_veth_name(name) {
                "veth<8 hex>".to_string()
            } else {
                name.to_string()
            };
            let sandbox = match i.get("sandbox") {
                Some(s) if s == pod_path => json!("<pod>"),
                other => json!(other),
            };
            json!({ "name": name, "has_mac": i.get("mac").is_some(), "sandbox": sandbox, "mtu": i.get("mtu") })
        })
        .collect();
    // Absent, null and empty are the same thing to a runtime.
    let non_empty = |k: &str| {
        result
            .get(k)
            .filter(|v| !v.is_null() && v.as_object().is_none_or(|o| !o.is_empty()))
            .filter(|v| v.as_array().is_none_or(|a| !a.is_empty()))
            .cloned()
    };
    json!({
        "cniVersion": result["cniVersion"],
        "interfaces": ifs,
        "ips": non_empty("ips"),
        "routes": non_empty("routes"),
        "dns": non_empty("dns"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn legacy_shape() {
        let v = json!({"cniVersion":"0.2.0","ip4":{"ip":"10.0.0.2/24","gateway":"10.0.0.1","routes":[{"dst":"0.0.0.0/0"}]}});
        let r = parse("0.2.0", &v).expect("valid 0.2.0");
        assert_eq!(r.ips[0].address.to_string(), "10.0.0.2/24");
        assert_eq!(r.routes.len(), 1);
        assert!(parse("0.2.0", &json!({"cniVersion":"0.2.0","ips":[]})).is_err());
        assert!(parse("0.2.0", &json!({"cniVersion":"0.2.0","ip4":{"ip":"fd00::2/64"}})).is_err());
    }

    #[test]
    fn version_field_rules() {
        let with = json!({"cniVersion":"0.3.1","ips":[{"version":"4","address":"10.0.0.2/24"}]});
        assert!(parse("0.3.1", &with).is_ok());
        let wrong = json!({"cniVersion":"0.4.0","ips":[{"version":"6","address":"10.0.0.2/24"}]});
        assert!(parse("0.4.0", &wrong).is_err());
        let v1 = json!({"cniVersion":"1.0.0","ips":[{"version":"4","address":"10.0.0.2/24"}]});
        assert!(parse("1.0.0", &v1).is_err(), "1.x has no version field");
        assert!(parse("1.1.0", &json!({"cniVersion":"1.0.0","ips":[]})).is_err(), "cniVersion must match");
        assert!(parse("1.0.0", &json!({"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2"}]})).is_err());
    }
}
