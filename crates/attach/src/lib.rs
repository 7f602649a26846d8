//! The steps every railcni interface plugin shares, written once, as the
//! reference plugins share `ipam.ConfigureIface`: entering the pod
//! ([`with_pod`]), creating a link under a temporary name and naming it in
//! the pod, the IPAM lease that is released unless the ADD succeeds,
//! applying a result to a pod interface, per-rail policy routing, CHECK of
//! a pod link, and the presence test and removal DEL needs.
//!
//! It joins the protocol (`cni`) and the kernel (`netlink`), which know
//! nothing of each other; its [`Error`] is where kernel errors get their
//! CNI codes.

mod check;
mod configure;
mod create;
mod error;
mod lease;
mod mac;
mod plugin;
mod pod_link;
pub mod policy;
mod runtime;
mod veth;

pub use check::{
    Checked, Expect, check_addresses_and_routes, check_chained_link, check_created_link, check_mtu, check_pod_link,
    prev_interface,
};
pub use configure::{Options, configure_iface, routes_for};
pub use create::{create_in_pod, ensure_free, fits_master, master, remove_on_error, temp_name};
pub use error::{Error, Result, check_failed};
pub use lease::lease;
pub use mac::requested_or_configured_mac;
pub use plugin::{MAC_AND_IPAM_ARGS, Pod, PodPlugin};
pub use pod_link::{apply, configure, configure_or_remove, del, remove_pod_link, remove_pod_rules};
pub use runtime::{block_on, pod_if_present, run, with_pod};
pub use veth::{check_masq, check_veth_peer, create_veth, remove_masq, veth_name};
