//! railcni `tap`: a drop-in for the reference tap plugin (v1.3.0+). The
//! pod gets a persistent tap device (for a VM or a userspace switch to
//! attach to), with the owner and group allowed to attach, optionally
//! multi-queue, optionally a port of a bridge in the pod, with IPAM's
//! addresses when the config has IPAM (else it is only brought up).
//!
//! Where it differs from the reference (v1.3.0+; Debian's 1.1.1 has no tap):
//! - The tap is always made by the kernel's own interface, TUNSETIFF on
//!   `/dev/net/tun` (in `netlink::tap`), with IFF_TAP | IFF_NO_PI |
//!   IFF_VNET_HDR (+ IFF_MULTI_QUEUE), then TUNSETOWNER/TUNSETGROUP and
//!   TUNSETPERSIST. The reference shells out to `ip tuntap add` unless
//!   both `owner` and `group` are set: no iproute2 is needed here.
//! - `selinuxContext` is checked (`user:role:type[:level]`, printable) and,
//!   on a host without SELinux, not applied, as there is nothing to label;
//!   with SELinux enabled it is refused (code 2): the reference labels the
//!   device through the exec label of the `ip` child, and railcni has no child.
//! - Like every railcni interface plugin: the tap is born under a
//!   temporary name and renamed, a failed ADD removes it and releases
//!   IPAM, DEL works without the netns, and CHECK also compares the tap's
//!   multi-queue flag, owner, group and bridge port with the config.

mod config;

use attach::{Error, PodPlugin, Result, check_failed};
use cni::{CniResult, Request};
use netlink::tap::TapSpec;
use netlink::{Link, LinkKind, Sockets};

struct Tap;

/// The kernel's kind of a tap (and of a tun).
fn kind() -> LinkKind {
    LinkKind::Other("tun".into())
}

impl PodPlugin for Tap {
    type Settings = config::Settings;
    const ABOUT: &'static str = "railcni tap: gives the pod a tap device";
    const KNOWN_ARGS: &'static [&'static str] = attach::MAC_AND_IPAM_ARGS;

    fn load(&self, req: &Request) -> Result<Self::Settings, cni::Error> {
        config::load(req)
    }

    async fn add(&self, req: &Request, s: &Self::Settings, ns: &Sockets) -> Result<CniResult> {
        attach::ensure_free(req, ns).await?;
        let bridge = match &s.bridge {
            Some(name) => Some(pod_bridge(ns, name).await?),
            None => None,
        };
        let link = attach::create_in_pod(req, ns, async |tmp| {
            let spec = TapSpec { name: tmp, multi_queue: s.multi_queue, owner: s.owner, group: s.group };
            Ok(ns.in_pod(|| netlink::tap::create(&spec))??)
        })
        .await?;
        let link = attach::remove_on_error(ns, &link, settle(s, ns, link.clone(), bridge.as_ref()).await).await?;
        attach::configure_or_remove(req, ns, &link).await
    }

    async fn check(&self, req: &Request, s: &Self::Settings, ns: &Sockets, prev: &CniResult) -> Result<()> {
        let link = attach::check_created_link(req, ns, prev, &kind(), s.mtu).await?;
        let info = ns.pod.tap_info(link.index).await?.unwrap_or_default();
        let name = &link.name;
        if !info.tap || info.multi_queue != s.multi_queue {
            return Err(check_failed(format!("{name} is not the tap the config asks for: {info:?}")));
        }
        if s.owner.is_some() && info.owner != s.owner || s.group.is_some() && info.group != s.group {
            return Err(check_failed(format!("{name} has owner {:?} and group {:?}", info.owner, info.group)));
        }
        if let Some(b) = &s.bridge {
            let bridge = ns.pod.link_by_name(b).await?;
            if bridge.is_none() || link.master != bridge.map(|l| l.index) {
                return Err(check_failed(format!("{name} is not a port of bridge {b}")));
            }
        }
        Ok(())
    }
}

/// The bridge in the pod the tap is to join, which must exist.
async fn pod_bridge(ns: &Sockets, name: &str) -> Result<Link> {
    match ns.pod.link_by_name(name).await? {
        Some(l) if l.kind == LinkKind::Bridge => Ok(l),
        Some(l) => Err(Error::config("bridge", format!("{name} in the pod is a {}, not a bridge", l.kind))),
        None => Err(Error::config("bridge", format!("no bridge {name} in the pod"))),
    }
}

/// MAC, MTU and bridge port of the new tap; returns it as it is now.
async fn settle(s: &config::Settings, ns: &Sockets, link: Link, bridge: Option<&Link>) -> Result<Link> {
    if let Some(mac) = &s.mac {
        ns.pod.set_mac(link.index, mac.clone()).await?;
    }
    if let Some(mtu) = s.mtu {
        ns.pod.set_mtu(link.index, mtu).await?;
    }
    if let Some(b) = bridge {
        ns.pod.set_master(link.index, b.index).await?;
    }
    Ok(ns.pod.require_link(&link.name).await?)
}

fn main() -> std::process::ExitCode {
    attach::run(&attach::Pod(Tap), &ipam::IN_PROCESS)
}
