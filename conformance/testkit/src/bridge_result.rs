//! What a bridge ADD result must look like, checked against the kernel, and
//! its layout with run-specific names abstracted (for the differential
//! tests). The `ips` check and the layout serve the macvlan tests too.

use crate::kernel::LinkInfo;
use crate::netns::Namespace;
use serde_json::{Value, json};

/// The interfaces an ADD produced, as found in the kernel.
#[derive(Debug, Clone)]
pub struct Attached {
    pub bridge: LinkInfo,
    pub host_veth: LinkInfo,
    pub cont: LinkInfo,
    /// `ips[].address` in result order.
    pub ips: Vec<String>,
}

/// `veth` followed by exactly 8 lowercase hex digits, like the reference.
pub fn is_host_veth_name(name: &str) -> bool {
    name.len() == 12
        && name.starts_with("veth")
        && name[4..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn mac_of(v: &Value) -> String {
    v["mac"].as_str().unwrap_or("").to_ascii_lowercase()
}

/// Checks the 1.x result of a bridge ADD for pod `pod` / `ifname` against
/// the kernel: `interfaces` = [bridge, host veth, container end (sandbox)],
/// every IP on interface 2 and on the container link, MACs equal, the host
/// veth enslaved to the bridge and up. `Err` carries the whole picture.
pub fn check_attachment(
    result: &Value,
    host: &Namespace,
    pod: &Namespace,
    bridge: &str,
    ifname: &str,
) -> Result<Attached, String> {
    let ctx = || format!("result: {result}\n{}\n{}", host.dump(), pod.dump());
    let ifs = result["interfaces"].as_array().cloned().unwrap_or_default();
    if ifs.len() != 3 {
        return Err(format!("expected 3 interfaces [bridge, host veth, {ifname}], got {}\n{}", ifs.len(), ctx()));
    }
    if ifs[0]["name"] != bridge || ifs[0].get("sandbox").is_some() {
        return Err(format!("interfaces[0] must be bridge {bridge} without sandbox\n{}", ctx()));
    }
    let veth = ifs[1]["name"].as_str().unwrap_or("");
    if !is_host_veth_name(veth) || ifs[1].get("sandbox").is_some() {
        return Err(format!("interfaces[1] must be the host veth (veth + 8 hex), no sandbox\n{}", ctx()));
    }
    if ifs[2]["name"] != ifname || ifs[2]["sandbox"] != pod.path_str() {
        return Err(format!("interfaces[2] must be {ifname} with sandbox {}\n{}", pod.path_str(), ctx()));
    }
    let br = host.link(bridge).ok_or_else(|| format!("bridge {bridge} missing on the host\n{}", ctx()))?;
    let hv = host.link(veth).ok_or_else(|| format!("host veth {veth} missing\n{}", ctx()))?;
    let cont = pod.link(ifname).ok_or_else(|| format!("{ifname} missing in the pod\n{}", ctx()))?;
    if br.kind() != "bridge" || hv.kind() != "veth" || cont.kind() != "veth" {
        return Err(format!("link kinds: {} {} {}\n{}", br.kind(), hv.kind(), cont.kind(), ctx()));
    }
    for (i, l) in [&br, &hv, &cont].into_iter().enumerate() {
        if mac_of(&ifs[i]) != l.mac() {
            return Err(format!(
                "interfaces[{i}].mac {} != kernel {} ({})\n{}",
                ifs[i]["mac"],
                l.mac(),
                l.name(),
                ctx()
            ));
        }
    }
    if hv.master() != Some(bridge) || !hv.admin_up() {
        return Err(format!("host veth {veth} must be up with master {bridge}\n{}", ctx()));
    }
    let ips = result_ips(result, 2, pod, ifname).map_err(|e| format!("{e}\n{}", ctx()))?;
    Ok(Attached { bridge: br, host_veth: hv, cont, ips })
}

/// The result's `ips[].address` in order, each of which must belong to
/// `interfaces[interface]` and be on `ifname` in `pod` (a global address).
/// Shared by the bridge's and the macvlan's attachment checks.
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
            } else if is_host_veth_name(name) {
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
