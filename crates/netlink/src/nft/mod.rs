//! nftables over netfilter netlink, without the `nft` binary.

mod expr;
pub mod masq;
mod rules;
pub mod spoofchk;
mod wire;
