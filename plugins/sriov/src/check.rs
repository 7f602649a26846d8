//! CHECK (sriov-cni has none, sriov-cni#146): the VF is in the pod under
//! `CNI_IFNAME` with the MAC, MTU, addresses and routes of the ADD, and the
//! PF still reports the configured VF attributes.

use crate::config::Settings;
use crate::state::Record;
use attach::{Error, Expect, check_failed};
use cni::delegate::{forward, has_ipam};
use cni::{CniResult, Command, Request};
use netlink::sriov_sysfs::Sysfs;
use netlink::{Sockets, format_mac};

pub async fn check(req: &Request, s: &Settings, rec: &Record, prev: &CniResult, ns: &Sockets) -> Result<(), Error> {
    if rec.pci != s.pci {
        return Err(check_failed(format!("the attachment holds VF {}, the config says {}", rec.pci, s.pci)));
    }
    if rec.netdev.is_some() {
        // Physical netdevs have no link kind.
        let link = attach::check_pod_link(req, ns, prev, Expect { kind: "", up: true }).await?.link;
        match ns.pod.link_by_pci(&rec.pci).await? {
            Some(vf) if vf.index == link.index => {}
            _ => return Err(check_failed(format!("{} in the pod is not VF {}", link.name, rec.pci))),
        }
        attach::check_mtu(&link, s.mtu)?;
        if let Some(mac) = &s.mac
            && link.mac != format_mac(mac)
        {
            return Err(check_failed(format!("{} has MAC {}, config says {}", link.name, link.mac, format_mac(mac))));
        }
    } else if has_ipam(req) {
        forward(req, Command::Check)?;
    }
    let vf = Sysfs::default().vf(&rec.pci).map_err(|e| check_failed(e.to_string()))?;
    let pf = ns.host.require_link(&vf.pf).await?;
    let state = ns.host.vf_state(pf.index, vf.index).await?;
    if let Some(attr) = s.attrs.iter().find(|a| !state.has(a)) {
        return Err(check_failed(format!(
            "PF {} no longer has {} for VF {}: it reports {state:?}",
            vf.pf,
            attr.describe(),
            vf.index
        )));
    }
    Ok(())
}
