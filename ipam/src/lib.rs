//! railcni IPAM: the host-local allocator and its store, and the static plugin.

pub mod allocator;
mod error;
pub mod host_local;
pub mod range;
mod resolv;
pub mod static_ipam;
pub mod store;

pub use error::Error;
