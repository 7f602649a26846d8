//! DEL: remove the container's veth and release IPAM. Idempotent; a missing
//! netns or link is success, and the bridge is never deleted.

use crate::config::Config;
use cni::delegate::forward;
use cni::{Command, Error, Request};

pub async fn del(req: &Request, conf: &Config) -> Result<(), Error> {
    if let Some(ns) = netlink::attach::pod_if_present(req)? {
        let link = ns.pod.link_by_name(&req.env.ifname).await?;
        netlink::policy::del(req, &ns.pod, link.as_ref()).await?;
        if let Some(link) = link {
            // Deleting the container end removes the host end too.
            ns.pod.delete_link(link.index).await?;
        }
    }
    forward(req, Command::Del)?;
    if conf.ip_masq {
        // Found by attachment, not address: works without the netns (plugins#810).
        netlink::nft::masq::teardown(&req.conf.name, &req.env.ifname, &req.env.container_id)?;
    }
    if conf.macspoofchk {
        netlink::nft::spoofchk::teardown(&req.env.container_id, &req.env.ifname)?;
    }
    Ok(())
}
