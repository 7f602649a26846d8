//! railcni `dummy`: a drop-in for the reference dummy plugin. The pod gets
//! a dummy link (an interface without a wire) with IPAM's addresses:
//! IPAM is required, as in the reference.

use attach::{PodPlugin, Result};
use cni::{CniResult, Request};
use netlink::{LinkKind, Sockets};

struct Dummy;

/// What ADD creates.
fn kind() -> LinkKind {
    LinkKind::Other("dummy".into())
}

impl PodPlugin for Dummy {
    /// dummy has no keys of its own; `ipam` and `policyRouting` are shared.
    type Settings = ();
    const ABOUT: &'static str = "railcni dummy: gives the pod a dummy interface with IPAM's addresses";

    fn load(&self, req: &Request) -> Result<(), cni::Error> {
        // The reference: "dummy interface requires an IPAM configuration".
        cni::delegate::ipam_type(req)?;
        req.policy()?;
        Ok(())
    }

    /// Born in the pod under a temporary name and renamed there, like every created link.
    async fn add(&self, req: &Request, _: &(), ns: &Sockets) -> Result<CniResult> {
        attach::ensure_free(req, ns).await?;
        let fd = ns.pod_ns.fd();
        let link = attach::create_in_pod(req, ns, async |tmp| Ok(ns.host.add_dummy(tmp, Some(fd)).await?)).await?;
        attach::configure_or_remove(req, ns, &link).await
    }

    async fn check(&self, req: &Request, _: &(), ns: &Sockets, prev: &CniResult) -> Result<()> {
        attach::check_created_link(req, ns, prev, &kind(), None).await.map(drop)
    }
}

fn main() -> std::process::ExitCode {
    attach::run(&attach::Pod(Dummy), &ipam::IN_PROCESS)
}
