//! railcni under a real container runtime: Debian's containerd 1.6 and its
//! CRI plugin, driven over the CRI API as kubelet drives it. A `Stage` is
//! one containerd of the test's own on one railcni (or reference) conflist.

pub mod bins;
pub mod client;
pub mod conflists;
pub mod containerd;
pub mod host_files;
pub mod node;
pub mod pause;
pub mod stage;
mod tar;
pub mod timing;

/// The generated CRI client and messages (`proto/runtime_v1.proto`).
pub mod proto {
    tonic::include_proto!("runtime.v1");
}

pub use bins::Plugins;
pub use stage::{Pod, Stage};
