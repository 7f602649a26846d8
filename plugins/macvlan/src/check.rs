//! CHECK: the common checks, then macvlan's mode and MTU.

use crate::config::Settings;
use cni::{CniResult, Error, Request};
use netlink::attach::{self, check_failed};
use netlink::{Sockets, macvlan::mode_name};

pub async fn check(req: &Request, s: &Settings, ns: &Sockets, prev: &CniResult) -> Result<(), Error> {
    let link = attach::check(req, ns, prev, "macvlan").await?;
    let want = mode_name(s.mode);
    if link.macvlan_mode.as_deref() != Some(want) {
        return Err(check_failed(format!("{} is in mode {:?}, config says {want}", link.name, link.macvlan_mode)));
    }
    attach::check_mtu(&link, s.mtu)
}
