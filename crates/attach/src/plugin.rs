//! The shape of an interface plugin, after netavark's network drivers:
//! validate the config, set up, check, tear down. [`Pod`] turns one into a
//! `cni::Plugin`, so a plugin's `main` is one line and the verbs' common
//! path (config first, then the pod's sockets) is written here once.

use crate::{Result, block_on, with_pod};
use cni::{CniResult, Error, Plugin, Request};
use netlink::Sockets;

/// The `CNI_ARGS` of a plugin that takes `MAC` itself and leaves IP and
/// GATEWAY to the IPAM plugins it delegates to.
pub const MAC_AND_IPAM_ARGS: &[&str] = &["MAC", "IP", "GATEWAY"];

// The futures run on a current-thread runtime and never cross threads: no `Send` bound is wanted.
#[allow(async_fn_in_trait)]
pub trait PodPlugin {
    /// The validated config.
    type Settings;

    /// One line printed when `CNI_COMMAND` is unset.
    const ABOUT: &'static str;

    /// `CNI_ARGS` keys the plugin reads. IP and GATEWAY belong to the IPAM
    /// plugins it delegates to.
    const KNOWN_ARGS: &'static [&'static str] = &["IP", "GATEWAY"];

    /// Whether the plugin reads `CNI_ARGS` at all (see `cni::Plugin::reads_args`).
    const READS_ARGS: bool = true;

    /// Whether GC and STATUS go to the config's IPAM. A meta plugin (sbr,
    /// tuning, vrf) allocates nothing and delegates to no one, even if the
    /// config names an IPAM: then both succeed.
    const DELEGATES: bool = true;

    /// Decode and validate the config, before the kernel is touched.
    fn load(&self, req: &Request) -> Result<Self::Settings, Error>;

    /// ADD, in the pod.
    async fn add(&self, req: &Request, s: &Self::Settings, ns: &Sockets) -> Result<CniResult>;

    /// CHECK of what ADD made, against `prev`.
    async fn check(&self, req: &Request, s: &Self::Settings, ns: &Sockets, prev: &CniResult) -> Result<()>;

    /// DEL: by default, release IPAM and remove the pod's link. DEL validates
    /// nothing it does not need: after an ADD refused for a bad value (and
    /// which made nothing), a runtime rolling back (Multus does) must still
    /// get a clean DEL, and it must work after the master or netns is gone.
    fn del(&self, req: &Request) -> Result<(), Error> {
        block_on(crate::del(req))
    }

    /// GC: by default, IPAM's (`cni::Plugin`'s default), if it [delegates](Self::DELEGATES).
    fn gc(&self, req: &Request) -> Result<(), Error> {
        if !Self::DELEGATES {
            return Ok(());
        }
        cni::delegate::forward(req, cni::Command::Gc)
    }

    /// STATUS: by default, IPAM's, if it [delegates](Self::DELEGATES).
    fn status(&self, req: &Request) -> Result<(), Error> {
        if !Self::DELEGATES {
            return Ok(());
        }
        cni::delegate::forward(req, cni::Command::Status)
    }
}

/// A [`PodPlugin`] as a `cni::Plugin`.
pub struct Pod<P>(pub P);

impl<P: PodPlugin> Plugin for Pod<P> {
    fn about(&self) -> &'static str {
        P::ABOUT
    }

    fn known_args(&self) -> &'static [&'static str] {
        P::KNOWN_ARGS
    }

    fn reads_args(&self) -> bool {
        P::READS_ARGS
    }

    fn add(&self, req: &Request) -> Result<CniResult, Error> {
        let s = self.0.load(req)?;
        with_pod(&req.env.netns, async |ns| self.0.add(req, &s, ns).await)
    }

    fn del(&self, req: &Request) -> Result<(), Error> {
        self.0.del(req)
    }

    fn check(&self, req: &Request) -> Result<(), Error> {
        let s = self.0.load(req)?;
        let prev = req.require_prev_result()?;
        with_pod(&req.env.netns, async |ns| self.0.check(req, &s, ns, &prev).await)
    }

    fn gc(&self, req: &Request) -> Result<(), Error> {
        self.0.gc(req)
    }

    fn status(&self, req: &Request) -> Result<(), Error> {
        self.0.status(req)
    }
}
