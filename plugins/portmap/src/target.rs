//! CHECK's look at the pod: the interface the rules serve is there, up,
//! with the addresses `prevResult` gives it (rules for an address the pod
//! no longer holds serve nothing).
// The same few lines as tuning's CHECK; a shared step belongs in `attach`.

use cni::{CniResult, Error, Request};

pub fn check(req: &Request, prev: &CniResult) -> Result<(), Error> {
    let index = attach::prev_interface(req, prev)?;
    attach::with_pod(&req.env.netns, async |ns| {
        let ifname = &req.env.ifname;
        let link = ns
            .pod
            .link_by_name(ifname)
            .await?
            .ok_or_else(|| attach::check_failed(format!("interface {ifname} is missing from the pod")))?;
        if !link.admin_up {
            return Err(attach::check_failed(format!("{ifname} is down")));
        }
        attach::check_addresses_and_routes(&ns.pod, &link, index, prev).await
    })
}
