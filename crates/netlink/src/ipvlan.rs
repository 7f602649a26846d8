//! ipvlan links, created directly in the pod namespace.
//!
//! The kernel keeps the mode and flags per master (the "port"), not per
//! link: creating a link rewrites them for every link on that master, and
//! every link reports the port's current values.

use crate::{Error, Netlink};
pub use netlink_packet_route::link::{IpVlanFlags as Flags, IpVlanMode as Mode};
use rtnetlink::LinkIpVlan;

pub fn parse_mode(s: &str) -> Option<Mode> {
    Some(match s {
        "l2" => Mode::L2,
        "l3" => Mode::L3,
        "l3s" => Mode::L3S,
        _ => return None,
    })
}

pub fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::L2 => "l2",
        Mode::L3 => "l3",
        Mode::L3S => "l3s",
        _ => "unknown",
    }
}

/// The port flags by their names; `bridge` is the kernel's 0.
pub fn parse_flag(s: &str) -> Option<Flags> {
    Some(match s {
        "bridge" => Flags::empty(),
        "private" => Flags::Private,
        "vepa" => Flags::Vepa,
        _ => return None,
    })
}

pub fn flag_name(f: Flags) -> &'static str {
    if f.contains(Flags::Private) {
        "private"
    } else if f.contains(Flags::Vepa) {
        "vepa"
    } else {
        "bridge"
    }
}

/// An ipvlan to create: `name` on parent `parent` (an index in this
/// socket's namespace), placed in the namespace of `ns_fd` if given.
pub struct IpvlanSpec<'a> {
    pub name: &'a str,
    pub parent: u32,
    pub mode: Mode,
    pub flag: Flags,
    pub ns_fd: Option<std::os::fd::RawFd>,
    pub mtu: Option<u32>,
}

impl Netlink {
    /// Create the link. EBUSY means the master already has another kind of
    /// receive handler (macvlan links, a bridge or bond port).
    pub async fn add_ipvlan(&self, spec: &IpvlanSpec<'_>) -> Result<(), Error> {
        let mut b = LinkIpVlan::new(spec.name, spec.parent, spec.mode).flag(spec.flag);
        if let Some(fd) = spec.ns_fd {
            b = b.setns_by_fd(fd);
        }
        if let Some(mtu) = spec.mtu {
            b = b.mtu(mtu);
        }
        self.add_link(b.build(), &format!("creating ipvlan {} on #{}", spec.name, spec.parent)).await
    }

    /// The mode and flags of master `parent`'s port, read from an ipvlan
    /// link in this socket's namespace. `remote`: the master lives in another
    /// namespace (the link reports a link-netnsid) rather than in this one.
    pub async fn ipvlan_port(&self, parent: u32, remote: bool) -> Result<Option<(String, String)>, Error> {
        let links = self.links().await?;
        Ok(links
            .into_iter()
            .find(|l| l.kind == "ipvlan" && l.link == Some(parent) && l.link_netnsid.is_some() == remote)
            .and_then(|l| l.ipvlan))
    }
}
