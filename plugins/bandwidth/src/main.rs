//! railcni `bandwidth`: a drop-in for the reference bandwidth meta plugin,
//! chained after an interface plugin that makes a veth pair (ptp, bridge).
//! It limits traffic into the pod with a token bucket on the host end of
//! the veth, and traffic out of the pod with a token bucket on an ifb
//! device that the host end's ingress is redirected to. prevResult is
//! passed through (with the ifb appended, as the reference does).
//!
//! With `shapedSubnets` or `unshapedSubnets` (the reference's keys since
//! v1.5.0; 1.1.1 ignores them) each token bucket is an htb tree instead: a
//! limited class 1:30, an unlimited one 1:1, and u32 filters sending the
//! listed subnets' traffic to one of them, the rest to the other. The
//! subnet is matched as the remote end: the source address into the pod,
//! the destination out of it.
//!
//! Where it differs from the reference 1.1.1, on purpose:
//! - `runtimeConfig.bandwidth` (the capability) overrides the config's
//!   keys, as CONVENTIONS.md says; the reference ignores it whenever one
//!   of the four keys is in the config.
//! - Bad values are code 7 naming the key (the reference: 999); a rate
//!   below 8 bit/s is refused (the reference divides by zero); buckets and
//!   queue limits that overflow 32 bits saturate (the reference wraps).
//! - ADD that fails partway removes what it made; DEL validates nothing,
//!   works without netns or prevResult (the ifb is found by name) and also
//!   removes the host veth's qdiscs when it can still find the veth.
//! - CHECK also checks the shaped veth (up, addresses, routes) and the
//!   redirect, not only the buckets.
//! - The ifb is named as the reference names it, from the network name and
//!   container ID only: two attachments of one network in one pod share a
//!   name, and the second ADD with egress limits fails (EEXIST), as there.

mod config;
mod shape;

use cni::{CniResult, Error, Plugin, Request};

struct Bandwidth;

impl Plugin for Bandwidth {
    fn about(&self) -> &'static str {
        "railcni bandwidth: rate limits on a chained veth (tbf, ifb)"
    }

    /// As the reference: bandwidth exists from spec 0.3.0 on.
    fn oldest_version(&self) -> cni::version::Version {
        cni::version::Version::V0_3_0
    }

    fn add(&self, req: &Request) -> Result<CniResult, Error> {
        let s = config::load(req)?;
        let prev = req.prev_result()?;
        if s.is_zero() {
            // Nothing to limit: the reference passes prevResult on untouched.
            return Ok(prev.unwrap_or_default());
        }
        let prev =
            prev.ok_or_else(|| Error::config("prevResult", "missing: bandwidth must be called as a chained plugin"))?;
        attach::with_pod(&req.env.netns, async |ns| shape::add(req, &s, ns, prev).await)
    }

    /// DEL validates nothing: it needs only the network name and container ID.
    fn del(&self, req: &Request) -> Result<(), Error> {
        attach::block_on(shape::del(req))
    }

    fn check(&self, req: &Request) -> Result<(), Error> {
        let s = config::load(req)?;
        let prev = req.require_prev_result()?;
        if s.is_zero() {
            return Ok(());
        }
        attach::with_pod(&req.env.netns, async |ns| shape::check(req, &s, ns, &prev).await)
    }

    /// It allocates nothing that outlives DEL, and delegates to no IPAM.
    fn gc(&self, _req: &Request) -> Result<(), Error> {
        Ok(())
    }

    fn status(&self, _req: &Request) -> Result<(), Error> {
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    attach::run(&Bandwidth, &[])
}
