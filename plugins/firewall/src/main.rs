//! railcni `firewall`: a drop-in for the reference firewall meta plugin,
//! chained after an interface plugin. It lets the pod's traffic through
//! the node's forward path as the reference's iptables backend does, in
//! nftables (table `inet cni_firewall`), with `ingressPolicy: same-bridge`
//! isolating the pod from other bridges, and passes `prevResult` on
//! unchanged. Its rules carry the attachment's comment, so DEL needs
//! neither the netns nor `prevResult`, and GC collects those of
//! attachments the runtime no longer lists.

mod config;

use cni::{CniResult, Error, Plugin, Request};
use netlink::nft::firewall::{self, Guard};

struct Firewall;

fn kernel(e: netlink::Error) -> Error {
    attach::Error::from(e).into()
}

impl Plugin for Firewall {
    fn about(&self) -> &'static str {
        "railcni firewall: forward-path rules for a chained container, in nftables"
    }

    /// As the reference: firewall exists from spec 0.4.0 on.
    fn oldest_version(&self) -> cni::version::Version {
        cni::version::Version::V0_4_0
    }

    fn add(&self, req: &Request) -> Result<CniResult, Error> {
        let s = config::load(req)?;
        // As in the reference, no prevResult is nothing to allow.
        let Some(prev) = req.prev_result()? else { return Ok(CniResult::default()) };
        let bridge = if s.same_bridge { Some(config::bridge(&prev)?) } else { None };
        let ips = config::pod_ips(&prev, &req.env.ifname);
        let g = Guard { ips: &ips, admin_chain: &s.admin_chain, bridge: bridge.as_deref() };
        firewall::setup(&req.conf.name, &req.env.ifname, &req.env.container_id, &g).map_err(kernel)?;
        Ok(prev)
    }

    /// Whatever the config says: the rules are found by their comment.
    fn del(&self, req: &Request) -> Result<(), Error> {
        firewall::teardown(&req.conf.name, &req.env.ifname, &req.env.container_id).map_err(kernel)
    }

    fn check(&self, req: &Request) -> Result<(), Error> {
        let s = config::load(req)?;
        let prev = req.require_prev_result()?;
        attach::with_pod(&req.env.netns, async |ns| attach::check_chained_link(req, ns, &prev).await.map(|_| ()))?;
        let bridge = if s.same_bridge { Some(config::bridge(&prev)?) } else { None };
        let ips = config::pod_ips(&prev, &req.env.ifname);
        let want = firewall::rule_count(&Guard { ips: &ips, admin_chain: &s.admin_chain, bridge: bridge.as_deref() });
        let have = firewall::installed(&req.conf.name, &req.env.ifname, &req.env.container_id).map_err(kernel)?;
        if have != want {
            return Err(attach::check_failed(format!(
                "{have} firewall rules for the attachment in table inet {}, expected {want}",
                firewall::TABLE
            ))
            .into());
        }
        Ok(())
    }

    fn gc(&self, req: &Request) -> Result<(), Error> {
        let Some(valid) = cni::gc::valid_attachments(req)? else { return Ok(()) };
        let valid: Vec<(String, String)> = valid.into_iter().map(|a| (a.ifname, a.container_id)).collect();
        let n = firewall::gc(&req.conf.name, &valid).map_err(kernel)?;
        tracing::info!("GC removed {n} firewall rules");
        Ok(())
    }

    fn status(&self, _req: &Request) -> Result<(), Error> {
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    attach::run(&Firewall, &[])
}
