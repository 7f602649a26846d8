//! ADD's link steps: the name check, creation under a temporary name and
//! naming in the pod, the master, and rollback of a link.

use crate::{Error, Result};
use cni::{Request, code};
use netlink::{Link, Netlink, Sockets};

/// ADD refuses an interface name already taken in the pod (SPEC: ADD).
pub async fn ensure_free(req: &Request, ns: &Sockets) -> Result<()> {
    let ifname = &req.env.ifname;
    if ns.pod.link_by_name(ifname).await?.is_some() {
        return Err(Error::plugin(
            code::INTERFACE_EXISTS,
            format!("CNI_IFNAME: interface {ifname} already exists in {}", req.env.netns),
        ));
    }
    Ok(())
}

/// Create a link under a temporary name (the kernel may check names in the
/// creating namespace), find it in the pod and name it `CNI_IFNAME` there.
/// `create` gets the temporary name and maps its own errors, so EEXIST means
/// what the plugin says it means (a VLAN id in use, say).
///
/// The temporary name is derived from the attachment ([`temp_name`]): an ADD
/// killed between creating and renaming leaves a link that DEL, or the
/// retried ADD, can find and remove. A random name would leak it forever.
pub async fn create_in_pod(req: &Request, ns: &Sockets, create: impl AsyncFn(&str) -> Result<()>) -> Result<Link> {
    let tmp = temp_name(&req.env.container_id, &req.env.ifname);
    remove_temp(ns, &tmp).await?;
    create(&tmp).await?;
    let link = ns.pod.require_link(&tmp).await?;
    if let Err(e) = ns.pod.set_name(link.index, &req.env.ifname).await {
        let _ = ns.pod.delete_link(link.index).await;
        return Err(e.into());
    }
    Ok(Link { name: req.env.ifname.clone(), ..link })
}

/// The temporary name of an attachment's link: `rc` and 52 bits of a hash
/// of the container ID and ifname, unique per attachment and fixed across runs.
pub fn temp_name(container_id: &str, ifname: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new().chain_update(container_id).chain_update([0]).chain_update(ifname).finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("rc{}", &hex[..13])
}

/// Delete the link a killed ADD of this attachment left under its temporary name.
pub(crate) async fn remove_temp(ns: &Sockets, tmp: &str) -> Result<()> {
    if let Some(stale) = ns.pod.link_by_name(tmp).await? {
        tracing::info!(link = tmp, "removing the link an interrupted ADD left under its temporary name");
        ns.pod.delete_link(stale.index).await?;
    }
    Ok(())
}

/// `master`, which must exist (code 7 naming `master` otherwise).
pub async fn master(nl: &Netlink, name: &str) -> Result<Link> {
    let link = nl.link_by_name(name).await?.ok_or_else(|| Error::config("master", format!("link {name} not found")))?;
    // The loopback device is always ifindex 1; the kernel refuses it as a
    // parent with a bare EINVAL, which would reach the runtime as code 999.
    if link.index == LOOPBACK_IFINDEX {
        return Err(Error::config("master", format!("{name} is the loopback device")));
    }
    Ok(link)
}

const LOOPBACK_IFINDEX: u32 = 1;

/// A pod link may not have a larger MTU than its master.
pub fn fits_master(mtu: Option<u32>, master: &Link) -> Result<()> {
    match mtu {
        Some(mtu) if mtu > master.mtu => {
            Err(Error::config("mtu", format!("{mtu} is larger than master {}'s MTU {}", master.name, master.mtu)))
        }
        _ => Ok(()),
    }
}

/// Delete `link` if `result` is an error: the rollback of a failed ADD.
pub async fn remove_on_error<T>(ns: &Sockets, link: &Link, result: Result<T>) -> Result<T> {
    if result.is_err()
        && let Err(e) = ns.pod.delete_link(link.index).await
    {
        tracing::warn!("rolling back {}: {e}", link.name);
    }
    result
}

#[cfg(test)]
mod tests {
    #[test]
    fn temp_names_are_per_attachment_and_fit_ifnamsiz() {
        let a = super::temp_name("c1", "net1");
        assert_eq!(a, super::temp_name("c1", "net1"));
        assert_ne!(a, super::temp_name("c1", "net2"));
        assert_ne!(super::temp_name("c1", "1net"), super::temp_name("c1n", "et"));
        assert_eq!(a.len(), 15);
    }
}
