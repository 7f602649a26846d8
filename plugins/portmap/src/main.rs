//! railcni `portmap`: a drop-in for the reference portmap meta plugin,
//! chained after an interface plugin. It forwards the runtime's
//! `portMappings` from the host to the container in nftables (table `inet
//! cni_hostport`), with hairpin and localhost masquerading, and passes
//! `prevResult` on unchanged. Its rules carry the attachment's comment, so
//! DEL needs neither the netns nor `prevResult`, and GC collects those of
//! attachments the runtime no longer lists.

mod config;

use cni::{CniResult, Error, Plugin, Request};
use ipnetwork::IpNetwork;
use netlink::nft::portmap::{self, Forward};

struct Portmap;

fn kernel(e: netlink::Error) -> Error {
    attach::Error::from(e).into()
}

fn forward<'a>(s: &'a config::Settings, ips: &'a [IpNetwork]) -> Forward<'a> {
    Forward { container: ips, mappings: &s.mappings, snat: s.snat, mark_bit: s.mark_bit }
}

/// Let 127.0.0.0/8 sources cross to the interface that routes to `ip`, as
/// the reference does for localhost connections to a host port.
fn route_localnet(ip: IpNetwork) -> Result<(), Error> {
    let IpNetwork::V4(v4) = ip else { return Ok(()) };
    attach::block_on(async {
        let nl = netlink::Netlink::connect()?;
        let best = nl
            .routes(true, None)
            .await?
            .into_iter()
            .filter(|r| r.oif.is_some() && r.dst.is_none_or(|d| d.contains(v4.ip().into())))
            .max_by_key(|r| r.dst.map_or(0, |d| d.prefix()));
        let Some(oif) = best.and_then(|r| r.oif) else { return Ok(()) };
        if let Some(link) = nl.link_by_index(oif).await? {
            netlink::sysctl::set(&netlink::sysctl::iface("ipv4", &link.name, "route_localnet"), "1")?;
        }
        Ok(())
    })
}

impl Plugin for Portmap {
    fn about(&self) -> &'static str {
        "railcni portmap: host ports forwarded to a chained container, in nftables"
    }

    fn add(&self, req: &Request) -> Result<CniResult, Error> {
        let s = config::load(req)?;
        let prev = req.prev_result()?.ok_or_else(|| Error::config("prevResult", "portmap must be chained"))?;
        if s.mappings.is_empty() {
            return Ok(prev);
        }
        let ips = config::container_ips(&prev, &req.env.ifname);
        let f = forward(&s, &ips);
        if s.snat {
            for ip in &ips {
                route_localnet(*ip)?;
            }
        }
        portmap::setup(&req.conf.name, &req.env.ifname, &req.env.container_id, &f).map_err(kernel)?;
        Ok(prev)
    }

    /// Whatever the config says: the rules are found by their comment.
    fn del(&self, req: &Request) -> Result<(), Error> {
        portmap::teardown(&req.conf.name, &req.env.ifname, &req.env.container_id).map_err(kernel)
    }

    fn check(&self, req: &Request) -> Result<(), Error> {
        let s = config::load(req)?;
        let prev = req.require_prev_result()?;
        attach::with_pod(&req.env.netns, async |ns| attach::check_chained_link(req, ns, &prev).await.map(|_| ()))?;
        let ips = config::container_ips(&prev, &req.env.ifname);
        let want = portmap::rule_count(&forward(&s, &ips));
        let have = portmap::installed(&req.conf.name, &req.env.ifname, &req.env.container_id).map_err(kernel)?;
        if have != want {
            return Err(attach::check_failed(format!(
                "{have} host port rules for the attachment in table inet {}, expected {want}",
                portmap::TABLE
            ))
            .into());
        }
        Ok(())
    }

    fn gc(&self, req: &Request) -> Result<(), Error> {
        let Some(valid) = cni::gc::valid_attachments(req)? else { return Ok(()) };
        let valid: Vec<(String, String)> = valid.into_iter().map(|a| (a.ifname, a.container_id)).collect();
        let n = portmap::gc(&req.conf.name, &valid).map_err(kernel)?;
        tracing::info!("GC removed {n} host port rules");
        Ok(())
    }

    /// Nothing to forward to and nothing that could be unavailable.
    fn status(&self, _req: &Request) -> Result<(), Error> {
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    attach::run(&Portmap, &[])
}
