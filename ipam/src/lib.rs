//! railcni IPAM: the host-local allocator and its store, and the static plugin.

pub mod allocator;
mod error;
pub mod host_local;
pub mod range;
mod resolv;
pub mod static_ipam;
pub mod store;

pub use error::Error;

/// The IPAM plugins an interface plugin may run in-process (`cni::run_with`).
pub static IN_PROCESS: [cni::inproc::InProcess; 2] = [
    cni::inproc::InProcess { name: "host-local", plugin: &host_local::HostLocal },
    cni::inproc::InProcess { name: "static", plugin: &static_ipam::Static },
];
