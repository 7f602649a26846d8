//! ADD: a macvlan on the master, born in the pod under a temporary name and
//! renamed there (so no name can clash on the host), then IPAM and routes.

use crate::config::Settings;
use attach::{Error, Result};
use cni::{CniResult, Request};
use netlink::macvlan::MacvlanSpec;
use netlink::{Link, Netlink, Sockets};

pub async fn add(req: &Request, s: &Settings, ns: &Sockets) -> Result<CniResult> {
    attach::ensure_free(req, ns).await?;
    // With linkInContainer the master lives in the pod, and so does the socket that creates the link.
    let creator = if s.link_in_container { &ns.pod } else { &ns.host };
    let master = find_master(creator, s).await?;
    attach::fits_master(s.mtu, &master)?;
    let link = attach::create_in_pod(req, ns, async |tmp| {
        let spec = MacvlanSpec {
            name: tmp,
            parent: master.index,
            mode: s.mode,
            ns_fd: (!s.link_in_container).then(|| ns.pod_ns.fd()),
            mtu: s.mtu,
            mac: s.mac.clone(),
            bc_queue_len: s.bc_queue_len,
        };
        match creator.add_macvlan(&spec).await {
            Err(e) if e.errno() == Some(nix::libc::EBUSY) => Err(Error::config(
                "master",
                format!(
                    "{} is taken by another kind of device (ipvlan links, or a passthru macvlan): \
                     macvlan links can share a master only with each other",
                    master.name
                ),
            )),
            other => Ok(other?),
        }
    })
    .await?;
    attach::configure_or_remove(req, ns, &link).await
}

/// `master`, or the interface of the default route when unset.
async fn find_master(nl: &Netlink, s: &Settings) -> Result<Link> {
    if s.master.is_empty() {
        return nl
            .default_route_link()
            .await?
            .ok_or_else(|| Error::config("master", "not set, and there is no default route to take it from"));
    }
    attach::master(nl, &s.master).await
}
