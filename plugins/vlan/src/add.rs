//! ADD: a VLAN device on the master, born in the pod under a temporary
//! name and renamed there, then IPAM and routes (or L2 with `"ipam": {}`).

use crate::config::Settings;
use attach::{Error, Result};
use cni::{CniResult, Request};
use netlink::Sockets;
use netlink::vlan::VlanSpec;

pub async fn add(req: &Request, s: &Settings, ns: &Sockets) -> Result<CniResult> {
    attach::ensure_free(req, ns).await?;
    // With linkInContainer the master lives in the pod, and so does the socket that creates the link.
    let creator = if s.link_in_container { &ns.pod } else { &ns.host };
    let master = attach::master(creator, &s.master).await?;
    attach::fits_master(s.mtu, &master)?;
    let link = attach::create_in_pod(req, ns, async |tmp| {
        let spec = VlanSpec {
            name: tmp,
            parent: master.index,
            id: s.id,
            protocol: s.protocol,
            ns_fd: (!s.link_in_container).then(|| ns.pod_ns.fd()),
            mtu: s.mtu,
        };
        match creator.add_vlan(&spec).await {
            Err(e) if e.is_exists() => Err(Error::config(
                "vlanId",
                format!(
                    "master {} already has a {} VLAN {} device; the kernel allows one per master and id, in any namespace",
                    master.name,
                    s.protocol.name(),
                    s.id
                ),
            )),
            other => Ok(other?),
        }
    })
    .await?;
    attach::configure_or_remove(req, ns, &link).await
}
