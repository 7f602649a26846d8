//! The result of ADD, held in the current (1.1.0) layout, and its conversion
//! to and from every older layout (cni `pkg/types/{020,040,100}`).

use crate::gojson::{self, DecodeError};
use crate::version::Version;
use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::net::IpAddr;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CniResult {
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    #[serde(skip_serializing_if = "Dns::is_empty")]
    pub dns: Dns,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Interface {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    #[serde(rename = "socketPath", skip_serializing_if = "Option::is_none")]
    pub socket_path: Option<String>,
    #[serde(rename = "pciID", skip_serializing_if = "Option::is_none")]
    pub pci_id: Option<String>,
}

/// Field order follows Go's `IPConfig`, so output matches the reference byte for byte.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpConfig {
    /// Index into `interfaces`; IPAM results leave it unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
    pub address: IpNetwork,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    pub dst: IpNetwork,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advmss: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<u8>,
}

impl Route {
    pub fn new(dst: IpNetwork, gw: Option<IpAddr>) -> Route {
        Route { dst, gw, mtu: None, advmss: None, priority: None, table: None, scope: None }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Dns {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domain: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl CniResult {
    /// This plugin's result after a chain's earlier ones, as the spec asks of
    /// a plugin that gets a `prevResult`: `prev`'s interfaces, addresses and
    /// routes first, then this result's, whose `ips[].interface` indexes move
    /// past `prev`'s interfaces. DNS is this result's, or else `prev`'s.
    pub fn after(self, prev: CniResult) -> CniResult {
        let shift = prev.interfaces.len();
        let mut out = prev;
        out.interfaces.extend(self.interfaces);
        out.ips.extend(self.ips.into_iter().map(|mut ip| {
            ip.interface = ip.interface.map(|i| i + shift);
            ip
        }));
        out.routes.extend(self.routes);
        if !self.dns.is_empty() {
            out.dns = self.dns;
        }
        out
    }
}

impl Dns {
    pub fn is_empty(&self) -> bool {
        self.nameservers.is_empty() && self.domain.is_empty() && self.search.is_empty() && self.options.is_empty()
    }
}

/// 0.1.0/0.2.0 layout: one address per family, routes hung under it.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct LegacyResult {
    #[serde(rename = "cniVersion")]
    cni_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip4: Option<LegacyIp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip6: Option<LegacyIp>,
    #[serde(skip_serializing_if = "Dns::is_empty")]
    dns: Dns,
}

#[derive(Debug, Serialize, Deserialize)]
struct LegacyIp {
    ip: IpNetwork,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gateway: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    routes: Vec<Route>,
}

fn is_legacy(v: Version) -> bool {
    v < Version::V0_3_0
}

impl CniResult {
    /// Parse a result (a delegate's output or a `prevResult`) of any version.
    /// A result without `cniVersion` is taken to be `default_version`, as libcni does.
    pub fn parse(value: Value, default_version: &str, root: &str) -> Result<CniResult, DecodeError> {
        let version = value.get("cniVersion").and_then(Value::as_str).unwrap_or(default_version).to_string();
        let parsed = Version::parse(&version).ok_or_else(|| DecodeError {
            path: format!("{root}.cniVersion"),
            msg: format!("{version:?} is not a version"),
        })?;
        let mut result = if is_legacy(parsed) {
            let legacy: LegacyResult = gojson::decode(value, root)?;
            let mut r = CniResult { dns: legacy.dns, ..CniResult::default() };
            for ip in [legacy.ip4, legacy.ip6].into_iter().flatten() {
                r.ips.push(IpConfig { address: ip.ip, gateway: ip.gateway, interface: None });
                r.routes.extend(ip.routes);
            }
            r
        } else {
            gojson::decode(value, root)?
        };
        result.cni_version = version;
        Ok(result)
    }

    /// The JSON of this result in `version`'s layout. Fields the version lacks are dropped.
    pub fn to_json(&self, version: &str) -> Value {
        let parsed = Version::parse(version).unwrap_or(Version::V1_1_0);
        if is_legacy(parsed) {
            return self.to_legacy_json(version);
        }
        let mut r = self.clone();
        r.cni_version = version.to_string();
        let mut value = serde_json::to_value(&r).unwrap_or(Value::Null);
        if parsed < Version::V1_0_0 {
            add_ip_versions(&mut value);
            strip_interface_fields(&mut value);
        }
        value
    }

    fn to_legacy_json(&self, version: &str) -> Value {
        let first = |v4: bool| self.ips.iter().find(|ip| ip.address.is_ipv4() == v4);
        let legacy_ip = |v4: bool| {
            first(v4).map(|ip| LegacyIp {
                ip: ip.address,
                gateway: ip.gateway,
                // 0.2.0 routes carry only dst and gw.
                routes: self.routes.iter().filter(|r| r.dst.is_ipv4() == v4).map(|r| Route::new(r.dst, r.gw)).collect(),
            })
        };
        let legacy = LegacyResult {
            cni_version: version.to_string(),
            ip4: legacy_ip(true),
            ip6: legacy_ip(false),
            dns: self.dns.clone(),
        };
        serde_json::to_value(legacy).unwrap_or(Value::Null)
    }
}

/// 0.3.x/0.4.0 tag each IP with its family.
fn add_ip_versions(value: &mut Value) {
    let Some(ips) = value.get_mut("ips").and_then(Value::as_array_mut) else {
        return;
    };
    for ip in ips {
        let Some(obj) = ip.as_object_mut() else {
            continue;
        };
        let family = obj.get("address").and_then(Value::as_str).map(|a| if a.contains(':') { "6" } else { "4" });
        if let Some(family) = family {
            let rest: Map<String, Value> = std::mem::take(obj);
            obj.insert("version".into(), json!(family));
            obj.extend(rest);
        }
    }
}

/// `mtu`, `socketPath` and `pciID` arrived in 1.1.0; older versions drop them.
fn strip_interface_fields(value: &mut Value) {
    let Some(ifaces) = value.get_mut("interfaces").and_then(Value::as_array_mut) else {
        return;
    };
    for iface in ifaces.iter_mut().filter_map(Value::as_object_mut) {
        for key in ["mtu", "socketPath", "pciID"] {
            iface.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CniResult {
        CniResult {
            cni_version: "1.1.0".into(),
            interfaces: vec![Interface {
                name: "eth0".into(),
                mac: Some("02:00:00:00:00:01".into()),
                mtu: Some(9000),
                sandbox: Some("/run/netns/x".into()),
                pci_id: Some("0000:01:10.0".into()),
                ..Interface::default()
            }],
            ips: vec![
                IpConfig {
                    address: "10.0.0.2/24".parse().unwrap(),
                    gateway: "10.0.0.1".parse().ok(),
                    interface: Some(0),
                },
                IpConfig { address: "10.1.0.2/24".parse().unwrap(), gateway: None, interface: Some(0) },
                IpConfig { address: "fd00::2/64".parse().unwrap(), gateway: None, interface: Some(0) },
            ],
            routes: vec![
                Route { table: Some(1001), ..Route::new("0.0.0.0/0".parse().unwrap(), "10.0.0.1".parse().ok()) },
                Route::new("::/0".parse().unwrap(), None),
            ],
            dns: Dns { nameservers: vec!["10.0.0.53".into()], ..Dns::default() },
        }
    }

    #[test]
    fn after_puts_prev_first_and_shifts_interface_indexes() {
        let prev = CniResult::parse(
            json!({"cniVersion": "1.0.0", "interfaces": [{"name": "lo"}], "ips": [{"address": "127.0.0.1/8", "interface": 0}],
                   "dns": {"nameservers": ["10.0.0.53"]}}),
            "1.0.0",
            "prevResult",
        )
        .unwrap();
        let ours = sample();
        let n = ours.interfaces.len();
        let merged = ours.clone().after(prev);
        assert_eq!(merged.interfaces.len(), 1 + n);
        assert_eq!(merged.interfaces[0].name, "lo");
        assert_eq!(merged.ips[0].interface, Some(0), "prev's own indexes stay");
        assert_eq!(merged.ips[1].interface, ours.ips[0].interface.map(|i| i + 1));
        assert_eq!(merged.dns, ours.dns, "our DNS wins when we have one");
    }

    #[test]
    fn current_round_trips() {
        let v = sample().to_json("1.1.0");
        assert_eq!(v["interfaces"][0]["pciID"], "0000:01:10.0");
        assert_eq!(CniResult::parse(v, "1.1.0", "prevResult").unwrap(), sample());
    }

    #[test]
    fn v040_adds_version_and_drops_new_interface_fields() {
        let v = sample().to_json("0.4.0");
        assert_eq!(v["cniVersion"], "0.4.0");
        assert_eq!(v["ips"][0]["version"], "4");
        assert_eq!(v["ips"][2]["version"], "6");
        let iface = v["interfaces"][0].as_object().unwrap();
        assert!(!iface.contains_key("mtu") && !iface.contains_key("pciID"));
        assert_eq!(iface["mac"], "02:00:00:00:00:01");
        // The key order of Go's 040 IPConfig puts version first.
        assert_eq!(v["ips"][0].as_object().unwrap().keys().next().unwrap(), "version");
        let back = CniResult::parse(v, "0.4.0", "prevResult").unwrap();
        assert_eq!(back.ips, sample().ips);
    }

    #[test]
    fn v020_keeps_first_address_per_family() {
        let v = sample().to_json("0.2.0");
        assert_eq!(v["ip4"]["ip"], "10.0.0.2/24");
        assert_eq!(v["ip4"]["routes"][0], json!({"dst": "0.0.0.0/0", "gw": "10.0.0.1"}));
        assert_eq!(v["ip6"]["ip"], "fd00::2/64");
        assert!(v.get("ips").is_none() && v.get("interfaces").is_none());
        let back = CniResult::parse(v, "0.2.0", "prevResult").unwrap();
        assert_eq!(back.ips.len(), 2);
        assert_eq!(back.routes.len(), 2);
    }

    #[test]
    fn missing_version_defaults_to_config_version() {
        let r = CniResult::parse(json!({"ip4": {"ip": "10.0.0.2/24"}}), "0.1.0", "prevResult").unwrap();
        assert_eq!(r.cni_version, "0.1.0");
        assert_eq!(r.ips[0].address.to_string(), "10.0.0.2/24");
    }

    #[test]
    fn bad_address_names_the_path() {
        let e = CniResult::parse(json!({"cniVersion": "1.0.0", "ips": [{"address": "x"}]}), "1.0.0", "prevResult")
            .unwrap_err();
        assert_eq!(e.path, "prevResult.ips[0].address");
    }
}
