//! Reading link, address and route state out of a namespace with `ip -j`,
//! and a normalized form of it that two implementations can be compared on.

use crate::netns::Namespace;
use serde_json::{Value, json};

/// One link as `ip -d -j link` shows it, with the fields the tests look at.
#[derive(Debug, Clone)]
pub struct LinkInfo {
    pub raw: Value,
}

impl LinkInfo {
    pub fn name(&self) -> &str {
        self.raw["ifname"].as_str().unwrap_or("")
    }

    pub fn mac(&self) -> String {
        self.raw["address"].as_str().unwrap_or("").to_ascii_lowercase()
    }

    pub fn mtu(&self) -> u64 {
        self.raw["mtu"].as_u64().unwrap_or(0)
    }

    /// `ip link` `linkinfo.info_kind` (`veth`, `bridge`, ...).
    pub fn kind(&self) -> &str {
        self.raw["linkinfo"]["info_kind"].as_str().unwrap_or("")
    }

    pub fn master(&self) -> Option<&str> {
        self.raw["master"].as_str()
    }

    pub fn has_flag(&self, flag: &str) -> bool {
        self.raw["flags"].as_array().is_some_and(|f| f.iter().any(|x| x.as_str() == Some(flag)))
    }

    /// Administratively up (`ip link set up`).
    pub fn admin_up(&self) -> bool {
        self.has_flag("UP")
    }

    pub fn promisc(&self) -> bool {
        self.has_flag("PROMISC")
    }

    /// A bridge port attribute (`hairpin`, `isolated`, ...) from `info_slave_data`.
    pub fn port_attr(&self, key: &str) -> Option<&Value> {
        self.raw["linkinfo"]["info_slave_data"].get(key)
    }
}

/// One address from `ip -j addr`.
#[derive(Debug, Clone, PartialEq)]
pub struct AddrInfo {
    pub dev: String,
    pub cidr: String,
    pub scope: String,
    /// Flags `ip` prints as booleans: `tentative`, `nodad`, `dadfailed`, ...
    pub flags: Vec<String>,
}

impl Namespace {
    /// Every link, with details.
    pub fn links(&self) -> Vec<LinkInfo> {
        let v = self.ip_json(&["-d", "link", "show"]).unwrap_or_else(|e| panic!("{e}"));
        v.as_array().cloned().unwrap_or_default().into_iter().map(|raw| LinkInfo { raw }).collect()
    }

    pub fn link(&self, name: &str) -> Option<LinkInfo> {
        self.links().into_iter().find(|l| l.name() == name)
    }

    #[track_caller]
    pub fn require_link(&self, name: &str) -> LinkInfo {
        self.link(name).unwrap_or_else(|| panic!("no link {name} in netns {}:\n{}", self.name(), self.dump()))
    }

    /// Names of the links whose name starts with `prefix`.
    pub fn link_names(&self, prefix: &str) -> Vec<String> {
        self.links().iter().map(|l| l.name().to_string()).filter(|n| n.starts_with(prefix)).collect()
    }

    /// Addresses of `dev`, or of every link when `dev` is `None`.
    pub fn addrs(&self, dev: Option<&str>) -> Vec<AddrInfo> {
        let v = self.ip_json(&["addr", "show"]).unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        for link in v.as_array().cloned().unwrap_or_default() {
            let name = link["ifname"].as_str().unwrap_or("").to_string();
            if dev.is_some_and(|d| d != name) {
                continue;
            }
            for a in link["addr_info"].as_array().cloned().unwrap_or_default() {
                let flags = a
                    .as_object()
                    .map(|o| o.iter().filter(|(_, v)| v == &&Value::Bool(true)).map(|(k, _)| k.clone()).collect())
                    .unwrap_or_default();
                out.push(AddrInfo {
                    dev: name.clone(),
                    cidr: format!("{}/{}", a["local"].as_str().unwrap_or("?"), a["prefixlen"]),
                    scope: a["scope"].as_str().unwrap_or("").to_string(),
                    flags,
                });
            }
        }
        out
    }

    /// Global-scope addresses of `dev` as `addr/prefix`.
    pub fn global_addrs(&self, dev: &str) -> Vec<String> {
        self.addrs(Some(dev)).into_iter().filter(|a| a.scope == "global").map(|a| a.cidr).collect()
    }

    /// `ip -j -4|-6 route show table all`, local/broadcast/multicast table noise removed.
    pub fn routes(&self, v6: bool) -> Vec<Value> {
        let fam = if v6 { "-6" } else { "-4" };
        let v = self.ip_json(&[fam, "route", "show", "table", "all"]).unwrap_or_else(|e| panic!("{e}"));
        v.as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| !matches!(r["table"].as_str(), Some("local")))
            .filter(|r| !matches!(r["type"].as_str(), Some("multicast" | "broadcast" | "local")))
            .collect()
    }

    /// Human-readable `ip addr` + `ip route` for failure messages.
    pub fn dump(&self) -> String {
        let a = self.ip(&["addr"]).unwrap_or_else(|e| e);
        let r4 = self.ip(&["route"]).unwrap_or_else(|e| e);
        let r6 = self.ip(&["-6", "route"]).unwrap_or_else(|e| e);
        format!("--- ip -n {} addr\n{a}--- route\n{r4}--- -6 route\n{r6}", self.name())
    }

    /// The namespace's links, addresses and routes as sorted one-line facts,
    /// with everything that legitimately differs between two runs removed:
    /// MACs, ifindexes, lifetimes, link-local addresses (derived from the
    /// MAC) and address flags (DAD is off either way; a transient
    /// `tentative` is timing). What stays: names, kind, flags, state, MTU,
    /// queue length, promiscuity, addresses, and every route attribute.
    pub fn normalized(&self) -> Vec<String> {
        let addr = self.ip_json(&["-d", "addr", "show"]).unwrap_or_else(|e| panic!("{e}"));
        let mut facts = Vec::new();
        for l in addr.as_array().cloned().unwrap_or_default() {
            let name = l["ifname"].as_str().unwrap_or("?");
            let attrs = [
                ("kind", l["linkinfo"]["info_kind"].clone()),
                ("flags", l["flags"].clone()),
                ("operstate", l["operstate"].clone()),
                ("mtu", l["mtu"].clone()),
                // `ip` omits txqlen 0.
                ("txqlen", l.get("txqlen").cloned().unwrap_or(json!(0))),
                ("promiscuity", l["promiscuity"].clone()),
            ];
            for (k, v) in attrs {
                facts.push(format!("link {name} {k}={v}"));
            }
            for a in l["addr_info"].as_array().cloned().unwrap_or_default() {
                let local = a["local"].as_str().unwrap_or("?");
                let shown = if a["scope"] == "link" && local.starts_with("fe80:") { "fe80::<from-mac>" } else { local };
                facts.push(format!(
                    "addr {name} {shown}/{} scope {}",
                    a["prefixlen"],
                    a["scope"].as_str().unwrap_or("?")
                ));
            }
        }
        for v6 in [false, true] {
            for mut r in self.routes(v6) {
                if let Some(o) = r.as_object_mut() {
                    o.remove("expires");
                }
                facts.push(format!("route{} {r}", if v6 { "6" } else { "4" }));
            }
        }
        facts.sort();
        facts
    }
}

/// Facts only in `a` and only in `b`, for failure messages; empty if equal.
pub fn facts_diff(a_label: &str, a: &[String], b_label: &str, b: &[String]) -> String {
    let only = |x: &[String], y: &[String]| -> Vec<String> { x.iter().filter(|f| !y.contains(f)).cloned().collect() };
    let (oa, ob) = (only(a, b), only(b, a));
    if oa.is_empty() && ob.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    for (label, list) in [(a_label, oa), (b_label, ob)] {
        out.push_str(&format!("  only in {label}:\n"));
        for f in list {
            out.push_str(&format!("    {f}\n"));
        }
    }
    out
}
