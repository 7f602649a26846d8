//! `isGateway`: the gateway addresses live on the bridge, and the host forwards.

use crate::config::Settings;
use attach::{Error, Result};
use cni::CniResult;
use ipnetwork::IpNetwork;
use netlink::{Link, Sockets, sysctl};

pub async fn ensure(s: &Settings, ns: &Sockets, bridge: &Link, result: &CniResult) -> Result<()> {
    let mut forward = (false, false);
    for ip in &result.ips {
        let Some(gw) = ip.gateway else { continue };
        let want = IpNetwork::new(gw, ip.address.prefix()).map_err(|e| Error::internal(e.to_string()))?;
        ensure_address(s, ns, bridge, want).await?;
        if gw.is_ipv4() {
            forward.0 = true;
        } else {
            forward.1 = true;
        }
    }
    Ok(sysctl::enable_forwarding(forward.0, forward.1)?)
}

/// Put `want` on the bridge. Another address in the way (IPv4: any other;
/// IPv6: an overlapping one) is an error unless `forceAddress` replaces it.
async fn ensure_address(s: &Settings, ns: &Sockets, bridge: &Link, want: IpNetwork) -> Result<()> {
    let existing = ns.host.addresses(Some(bridge.index)).await?;
    for a in existing.iter().filter(|a| a.global && a.cidr.is_ipv4() == want.is_ipv4()) {
        if a.cidr == want {
            return Ok(());
        }
        let conflicts = want.is_ipv4() || a.cidr.contains(want.ip()) || want.contains(a.cidr.ip());
        if !conflicts {
            continue;
        }
        if !s.conf.force_address {
            return Err(Error::config(
                "forceAddress",
                format!(
                    "bridge {} already has address {} which differs from gateway {want}; set forceAddress to replace it",
                    bridge.name, a.cidr
                ),
            ));
        }
        ns.host.delete_address(bridge.index, a.cidr).await?;
    }
    match ns.host.add_address(bridge.index, want, true).await {
        Err(e) if e.is_exists() => Ok(()),
        Err(e) => Err(e.into()),
        // Whoever adds the gateway pins the bridge MAC (read fresh, not the
        // value from the start of this ADD), as the reference does: the
        // pods' ARP entries for the gateway must not go stale.
        Ok(()) => Ok(ns.host.pin_mac(&bridge.name).await?),
    }
}
