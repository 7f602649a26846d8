//! railcni's netlink layer: the only code that talks to the kernel, and
//! nothing else (no CNI types: the plugin steps built on it live in the
//! `attach` crate).
//!
//! It wraps `rtnetlink` (pinned exactly, since nearly every release breaks
//! its API) behind railcni's own types. A plugin opens one [`Netlink`]
//! socket in the host namespace and one in the pod namespace
//! ([`Netlink::connect_in`]); each stays bound to its namespace for its
//! lifetime, so no `.await` ever runs with the thread inside the pod.

mod addr;
mod error;
pub mod fault;
pub mod ipvlan;
mod kind;
mod link;
pub mod macvlan;
mod neigh;
mod netns;
pub mod nft;
mod pair;
mod route;
mod rule;
mod socket;
pub mod sriov_sysfs;
pub mod sysctl;
pub mod tap;
pub mod tc;
pub mod vf;
pub mod vlan;
mod vrf;

pub use addr::Addr;
pub use error::Error;
pub use kind::{IpvlanFlag, IpvlanMode, LinkKind, MacvlanMode, VlanProtocol};
pub use link::{BridgePort, BridgeSpec, Link, VethSpec, format_mac, parse_mac, random_mac};
pub use neigh::Neighbour;
pub use netns::Netns;
pub use pair::Sockets;
pub use route::{Route, TABLE_MAIN};
pub use rule::Rule;
pub use socket::{Netlink, block_on};
