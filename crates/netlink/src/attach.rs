//! The steps every "one link in the pod" plugin (macvlan, ipvlan, vlan)
//! shares, written once: the name check, creation under a temporary name and
//! renaming in the pod, IPAM, addresses and routes, the one-interface result,
//! DEL, and the common part of CHECK.

use crate::configure::Options;
use crate::{Link, Netlink, Sockets, TABLE_MAIN, policy, sysctl};
use cni::delegate::{IpamLease, forward, has_ipam};
use cni::policy::Policy;
use cni::{CniResult, Command, Error, Interface, Request, code};

/// ADD refuses an interface name already taken in the pod (SPEC: ADD).
pub async fn ensure_free(req: &Request, ns: &Sockets) -> Result<(), Error> {
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
pub async fn create_in_pod(
    req: &Request,
    ns: &Sockets,
    create: impl AsyncFn(&str) -> Result<(), Error>,
) -> Result<Link, Error> {
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
async fn remove_temp(ns: &Sockets, tmp: &str) -> Result<(), Error> {
    if let Some(stale) = ns.pod.link_by_name(tmp).await? {
        tracing::info!(link = tmp, "removing the link an interrupted ADD left under its temporary name");
        ns.pod.delete_link(stale.index).await?;
    }
    Ok(())
}

/// `master`, which must exist (code 7 naming `master` otherwise).
pub async fn master(nl: &Netlink, name: &str) -> Result<Link, Error> {
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
pub fn fits_master(mtu: Option<u32>, master: &Link) -> Result<(), Error> {
    match mtu {
        Some(mtu) if mtu > master.mtu => {
            Err(Error::config("mtu", format!("{mtu} is larger than master {}'s MTU {}", master.name, master.mtu)))
        }
        _ => Ok(()),
    }
}

/// IPAM ADD (if the config has IPAM) and the result it starts: its
/// addresses on interface `iface`, its routes, and its DNS unless config
/// `dns` replaces it. The lease is released on drop unless kept.
pub fn lease(req: &Request, iface: usize) -> Result<(Option<IpamLease<'_>>, CniResult), Error> {
    let lease = if has_ipam(req) { Some(IpamLease::add(req)?) } else { None };
    let mut result = CniResult::default();
    if let Some(lease) = &lease {
        result.ips = lease.result.ips.clone();
        result.routes = lease.result.routes.clone();
        result.dns = lease.result.dns.clone();
    }
    for ip in &mut result.ips {
        ip.interface = Some(iface);
    }
    // The reference drops IPAM's DNS for macvlan/ipvlan/vlan; railcni lets config `dns` override it in every plugin.
    if !req.conf.dns.is_empty() {
        result.dns = req.conf.dns.clone();
    }
    Ok((lease, result))
}

/// IPAM, sysctls, addresses, routes and link up for `link`, and the result:
/// a chain's `prevResult` followed by `link`. The caller deletes `link` if this fails.
pub async fn configure(req: &Request, ns: &Sockets, link: &Link) -> Result<CniResult, Error> {
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
) -> Result<CniResult, Error> {
    if addressed {
        // Announce the addresses when the link comes up, as the reference does (only with addresses).
        let ifname = &link.name;
        ns.in_pod(|| -> Result<(), crate::Error> {
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
pub async fn configure_or_remove(req: &Request, ns: &Sockets, link: &Link) -> Result<CniResult, Error> {
    remove_on_error(ns, link, configure(req, ns, link).await).await
}

/// Delete `link` if `result` is an error: the rollback of a failed ADD.
pub async fn remove_on_error<T>(ns: &Sockets, link: &Link, result: Result<T, Error>) -> Result<T, Error> {
    if result.is_err()
        && let Err(e) = ns.pod.delete_link(link.index).await
    {
        tracing::warn!("rolling back {}: {e}", link.name);
    }
    result
}

/// DEL: release IPAM, then delete the pod's link. A missing netns or link is
/// success, and nothing here needs the master.
pub async fn del(req: &Request) -> Result<(), Error> {
    forward(req, Command::Del)?;
    if let Some(ns) = pod_if_present(req)? {
        let link = ns.pod.link_by_name(&req.env.ifname).await?;
        policy::del(req, &ns.pod, link.as_ref()).await?;
        match link {
            Some(link) => ns.pod.delete_link(link.index).await?,
            // An ADD killed before the rename left the link under its temporary name.
            None => remove_temp(&ns, &temp_name(&req.env.container_id, &req.env.ifname)).await?,
        }
    }
    Ok(())
}

/// DEL's sockets: `None` when `CNI_NETNS` is empty or already gone (the
/// runtime may have removed it; what was in it went with it).
pub fn pod_if_present(req: &Request) -> Result<Option<Sockets>, Error> {
    if req.env.netns.is_empty() {
        return Ok(None);
    }
    match Sockets::open(&req.env.netns) {
        Ok(ns) => Ok(Some(ns)),
        Err(crate::Error::Netns { path, why }) => {
            tracing::info!("DEL: netns {path} is gone ({why})");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

pub fn check_failed(msg: String) -> Error {
    Error::plugin(code::CHECK_FAILED, msg)
}

/// CHECK's common part: IPAM's CHECK, then the pod's link of `kind` with the
/// MAC, state, addresses and routes of `prev`. Returns the link for the
/// plugin's own checks.
pub async fn check(req: &Request, ns: &Sockets, prev: &CniResult, kind: &str) -> Result<Link, Error> {
    if has_ipam(req) {
        forward(req, Command::Check)?;
    }
    let prev = &policy::as_added(req, prev)?;
    let ifname = &req.env.ifname;
    let idx = prev_interface(req, prev)?;
    let link = ns
        .pod
        .link_by_name(ifname)
        .await?
        .ok_or_else(|| check_failed(format!("interface {ifname} is missing from the pod")))?;
    if link.kind != kind {
        return Err(check_failed(format!("{ifname} is a {:?} link, not {kind}", link.kind)));
    }
    if let Some(mac) = &prev.interfaces[idx].mac
        && !mac.eq_ignore_ascii_case(&link.mac)
    {
        return Err(check_failed(format!("{ifname} has MAC {}, prevResult says {mac}", link.mac)));
    }
    if !link.admin_up {
        return Err(check_failed(format!("{ifname} is down")));
    }
    check_addresses_and_routes(&ns.pod, &link, idx, prev).await?;
    policy::check_prev(req, ns, &link, idx, prev).await?;
    Ok(link)
}

/// CHECK: `link` has the MTU the config asks for, if it asks for one.
pub fn check_mtu(link: &Link, mtu: Option<u32>) -> Result<(), Error> {
    match mtu {
        Some(mtu) if link.mtu != mtu => {
            Err(check_failed(format!("{} has MTU {}, config says {mtu}", link.name, link.mtu)))
        }
        _ => Ok(()),
    }
}

/// The index in `prev.interfaces` of this attachment's pod interface.
pub fn prev_interface(req: &Request, prev: &CniResult) -> Result<usize, Error> {
    let ifname = &req.env.ifname;
    prev.interfaces
        .iter()
        .position(|i| &i.name == ifname && i.sandbox.as_deref() == Some(req.env.netns.as_str()))
        .ok_or_else(|| {
            Error::config("prevResult.interfaces", format!("no interface {ifname} in sandbox {}", req.env.netns))
        })
}

/// The addresses of `prev` on interface `idx` are on `link`, and its routes are in their tables.
pub async fn check_addresses_and_routes(pod: &Netlink, link: &Link, idx: usize, prev: &CniResult) -> Result<(), Error> {
    let addrs = pod.addresses(Some(link.index)).await?;
    for ip in prev.ips.iter().filter(|ip| ip.interface == Some(idx)) {
        if !addrs.iter().any(|a| a.cidr == ip.address) {
            return Err(check_failed(format!("address {} is missing from {}", ip.address, link.name)));
        }
    }
    for r in &prev.routes {
        let table = r.table.unwrap_or(TABLE_MAIN);
        let present = pod.routes(r.dst.is_ipv4(), Some(table)).await?.iter().any(|k| {
            k.dst.map(|d| (d.network(), d.prefix())) == Some((r.dst.network(), r.dst.prefix()))
                && (r.gw.is_none() || k.gw == r.gw || k.nexthops.iter().any(|(g, _)| Some(*g) == r.gw))
        });
        if !present {
            return Err(check_failed(format!("route to {} (table {table}) is missing", r.dst)));
        }
    }
    Ok(())
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
