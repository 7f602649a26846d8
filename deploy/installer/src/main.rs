//! `railcni-install`: the program of the railcni DaemonSet. It copies the
//! plugin binaries from the image into the node's CNI bin dir without ever
//! exposing a half-written file, optionally writes a conflist, and then
//! waits for SIGTERM (or exits, with `--once`). The image has no shell, so
//! waiting is this program's job too.

mod args;
mod cluster_ipam;
mod conflist;
mod place;
mod run;

use args::{Parsed, Verb};
use nix::sys::signal::{SigSet, Signal};
use std::process::ExitCode;

fn main() -> ExitCode {
    // Blocked before anything else: as PID 1 in a container, SIGTERM has no
    // default action, so it must be received, not left to the kernel.
    let stop = SigSet::from_iter([Signal::SIGTERM, Signal::SIGINT]);
    if let Err(e) = stop.thread_block() {
        eprintln!("railcni-install: blocking signals: {e}");
        return ExitCode::FAILURE;
    }
    let mut opts = match args::parse(std::env::args().skip(1)) {
        Ok(Parsed::Run(o)) => o,
        Ok(Parsed::Help) => {
            print!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            println!("railcni-install {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("railcni-install: {e}\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    if opts.node_name.is_none() {
        // The downward API's spec.nodeName, in the DaemonSet.
        opts.node_name = std::env::var("NODE_NAME").ok().filter(|n| !n.is_empty());
    }
    let done = match opts.verb {
        Verb::Install => run::install(&opts),
        Verb::Uninstall => run::uninstall(&opts),
    };
    if let Err(e) = done {
        eprintln!("railcni-install: {e}");
        return ExitCode::FAILURE;
    }
    if opts.once {
        return ExitCode::SUCCESS;
    }
    if opts.verb == Verb::Install && opts.cluster_ipam_secret.is_some() && opts.resync_secs > 0 {
        // Signals stay blocked in this thread too (inherited); SIGTERM ends the process mid-sleep,
        // and a write it cuts short leaves only a temp file the next run replaces.
        let o = opts.clone();
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(o.resync_secs));
                if let Err(e) = run::resync_cluster_ipam(&o) {
                    eprintln!("railcni-install: cluster-ipam settings not updated: {e}");
                }
            }
        });
    }
    eprintln!("railcni-install: done; waiting for SIGTERM");
    match stop.wait() {
        Ok(sig) => eprintln!("railcni-install: {sig}, exiting"),
        Err(e) => eprintln!("railcni-install: waiting for a signal: {e}"),
    }
    ExitCode::SUCCESS
}
