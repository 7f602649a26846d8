//! What a bridge ADD result must look like, checked against the kernel.

use crate::kernel::LinkInfo;
use crate::netns::Namespace;
use crate::result::result_ips;
use serde_json::Value;

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
