//! railcni `bandwidth`: a drop-in for the reference bandwidth meta plugin,
//! chained after an interface plugin that makes a veth pair (ptp, bridge).
//! It limits traffic into the pod with a token bucket on the host end of
//! the veth, and traffic out of the pod with a token bucket on an ifb
//! device that the host end's ingress is redirected to. prevResult is
//! passed through (with the ifb appended, as the reference does).

mod config;
mod shape;

use cni::{CniResult, Error, Plugin, Request};

struct Bandwidth;

impl Plugin for Bandwidth {
    fn about(&self) -> &'static str {
        "railcni bandwidth: rate limits on a chained veth (tbf, ifb)"
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
