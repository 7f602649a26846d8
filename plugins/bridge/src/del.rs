//! DEL: remove the container's veth and release IPAM. Idempotent; a missing
//! netns or link is success, and the bridge is never deleted.

use crate::config::Config;
use attach::Result;
use cni::delegate::forward;
use cni::{Command, Request};

pub async fn del(req: &Request, conf: &Config) -> Result<()> {
    // Deleting the container end removes the host end too.
    attach::remove_pod_link(req).await?;
    forward(req, Command::Del)?;
    if conf.ip_masq {
        attach::remove_masq(req)?;
    }
    if conf.macspoofchk {
        netlink::nft::spoofchk::teardown(&req.env.container_id, &req.env.ifname)?;
    }
    Ok(())
}
