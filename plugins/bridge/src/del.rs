//! DEL: remove the container's veth and release IPAM. Idempotent; a missing
//! netns or link is success, and the bridge is never deleted.

use crate::config::Settings;
use cni::delegate::forward;
use cni::{Command, Error, Request};
use netlink::Sockets;

pub async fn del(req: &Request, s: &Settings) -> Result<(), Error> {
    if !req.env.netns.is_empty() {
        match Sockets::open(&req.env.netns) {
            Ok(ns) => {
                let link = ns.pod.link_by_name(&req.env.ifname).await?;
                netlink::policy::del(req, &ns.pod, link.as_ref()).await?;
                if let Some(link) = link {
                    // Deleting the container end removes the host end too.
                    ns.pod.delete_link(link.index).await?;
                }
            }
            // The runtime may have removed the netns already; the veth went with it.
            Err(netlink::Error::Netns { path, why }) => tracing::info!("DEL: netns {path} is gone ({why})"),
            Err(e) => return Err(e.into()),
        }
    }
    forward(req, Command::Del)?;
    if s.conf.ip_masq {
        // Found by attachment, not address: works without the netns (plugins#810).
        netlink::nft::masq::teardown(&req.conf.name, &req.env.ifname, &req.env.container_id)?;
    }
    if s.conf.macspoofchk {
        netlink::nft::spoofchk::teardown(&req.env.container_id, &req.env.ifname)?;
    }
    Ok(())
}
