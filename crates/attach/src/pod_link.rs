//! The flow of a "one link in the pod" plugin (macvlan, ipvlan, vlan,
//! sriov, host-device): configure the link or roll it back, and DEL.

use crate::configure::Options;
use crate::create::{remove_on_error, remove_temp, temp_name};
use crate::{Result, lease, pod_if_present, policy};
use cni::delegate::forward;
use cni::policy::Policy;
use cni::{CniResult, Command, Interface, Request};
use netlink::{Link, Sockets, sysctl};

/// IPAM, sysctls, addresses, routes and link up for `link`, and the result:
/// a chain's `prevResult` followed by `link`. The caller deletes `link` if this fails.
pub async fn configure(req: &Request, ns: &Sockets, link: &Link) -> Result<CniResult> {
    let policy = req.policy()?;
    let (lease, result) = lease(req, 0)?;
    let result = req.chain(apply(req, ns, link, result, lease.is_some(), policy.as_ref()).await?)?;
    if let Some(lease) = lease {
        lease.keep();
    }
    Ok(result)
}

/// Put `result`'s addresses and routes on `link`, with `policy`'s rules,
/// table and sysctls (if `addressed`; else only bring it up), and make
/// `link` the result's only interface.
pub async fn apply(
    req: &Request,
    ns: &Sockets,
    link: &Link,
    mut result: CniResult,
    addressed: bool,
    policy: Option<&Policy>,
) -> Result<CniResult> {
    if addressed {
        // Announce the addresses when the link comes up, as the reference does (only with addresses).
        let ifname = &link.name;
        ns.in_pod(|| -> Result<(), netlink::Error> {
            sysctl::set(&sysctl::iface("ipv4", ifname, "arp_notify"), "1")?;
            match sysctl::set(&sysctl::iface("ipv6", ifname, "ndisc_notify"), "1") {
                Err(e) if e.is_not_found() => Ok(()), // IPv6 is disabled in the pod.
                other => other,
            }
        })??;
        policy::configure(ns, link, 0, &mut result, policy, Options::default()).await?;
    } else {
        ns.pod.set_up(link.index).await?;
    }
    result.interfaces = vec![Interface {
        name: link.name.clone(),
        mac: Some(link.mac.clone()),
        sandbox: Some(req.env.netns.clone()),
        ..Interface::default()
    }];
    Ok(result)
}

/// ADD's tail: [`configure`], deleting `link` again if that fails.
pub async fn configure_or_remove(req: &Request, ns: &Sockets, link: &Link) -> Result<CniResult> {
    remove_on_error(ns, link, configure(req, ns, link).await).await
}

/// DEL: release IPAM, then [`remove_pod_link`]. Nothing here needs the master.
pub async fn del(req: &Request) -> Result<()> {
    forward(req, Command::Del)?;
    remove_pod_link(req).await
}

/// DEL's pod side: this attachment's policy rules ([`remove_pod_rules`]),
/// then its link in the pod (or the one a killed ADD left under its
/// temporary name). A missing netns or link is success.
pub async fn remove_pod_link(req: &Request) -> Result<()> {
    let Some((ns, link)) = remove_pod_rules(req).await? else { return Ok(()) };
    match link {
        Some(link) => ns.pod.delete_link(link.index).await?,
        None => remove_temp(&ns, &temp_name(&req.env.container_id, &req.env.ifname)).await?,
    }
    Ok(())
}

/// DEL's first pod step, before the link goes (rules outlive it, and a VF
/// going home takes its addresses with it): delete this attachment's
/// policy rules. Returns the pod's sockets and link, if they are still there.
pub async fn remove_pod_rules(req: &Request) -> Result<Option<(Sockets, Option<Link>)>> {
    let Some(ns) = pod_if_present(req)? else { return Ok(None) };
    let link = ns.pod.link_by_name(&req.env.ifname).await?;
    policy::del(req, &ns.pod, link.as_ref()).await?;
    Ok(Some((ns, link)))
}
