//! nftables over netfilter netlink, without the `nft` binary.

mod chains;
mod expr;
pub mod firewall;
pub mod masq;
pub mod portmap;
mod rules;
pub mod spoofchk;
mod wire;
