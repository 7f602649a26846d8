//! How a plugin process runs: the kill-point counter wired into the kernel
//! layer, a single-threaded runtime, and the pod's sockets.

use crate::Result;
use cni::{Plugin, Request};
use netlink::Sockets;
use std::process::ExitCode;

/// A plugin's `main`: [`cni::run_with`], with every kernel step counted as
/// a kill point (`cni::fault`) like the protocol crate's own disk steps.
pub fn run(plugin: &dyn Plugin, delegates: &'static [cni::inproc::InProcess]) -> ExitCode {
    netlink::fault::on_step(cni::fault::step);
    cni::run_with(plugin, delegates)
}

/// Run a verb's kernel work on a single-threaded runtime; its errors get their CNI codes here.
pub fn block_on<T>(fut: impl Future<Output = Result<T>>) -> Result<T, cni::Error> {
    Ok(netlink::block_on(fut).map_err(crate::Error::from)??)
}

/// Run an interface plugin's verb: a socket in the host namespace and one in
/// the pod's (`netns`), then `f`.
pub fn with_pod<T>(netns: &str, f: impl AsyncFnOnce(&Sockets) -> Result<T>) -> Result<T, cni::Error> {
    block_on(async {
        let ns = Sockets::open(netns)?;
        f(&ns).await
    })
}

/// DEL's sockets: `None` when `CNI_NETNS` is empty or already gone (the
/// runtime may have removed it; what was in it went with it).
pub fn pod_if_present(req: &Request) -> Result<Option<Sockets>> {
    if req.env.netns.is_empty() {
        return Ok(None);
    }
    match Sockets::open(&req.env.netns) {
        Ok(ns) => Ok(Some(ns)),
        Err(netlink::Error::Netns { path, why }) => {
            tracing::info!("DEL: netns {path} is gone ({why})");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}
