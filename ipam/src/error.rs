//! The IPAM crate's errors, mapped to CNI codes once, in `From<Error> for cni::Error`.

use cni::code;
use std::net::IpAddr;

#[derive(Debug)]
pub enum Error {
    /// A filesystem call on the store failed.
    Io { what: String, source: std::io::Error },
    /// A store path is a symlink or not a directory: refuse rather than follow it.
    Unsafe { path: String, why: &'static str },
    /// The attachment already holds `ip` in this range set.
    Duplicate { ip: IpAddr, container_id: String },
    /// Every address of the range set is taken.
    Exhausted { range: String },
    /// A requested address cannot be given out.
    Unavailable { ip: IpAddr, why: String },
    /// CHECK: the attachment holds no address.
    NotFound { container_id: String, ifname: String },
}

impl Error {
    pub fn io(what: impl Into<String>, source: impl Into<std::io::Error>) -> Error {
        Error::Io { what: what.into(), source: source.into() }
    }
}

impl From<Error> for cni::Error {
    fn from(e: Error) -> cni::Error {
        match e {
            // Every I/O error of this crate is about the store under `ipam.dataDir`.
            Error::Io { what, source } => cni::Error::io(format!("ipam.dataDir: {what}"), source),
            Error::Unsafe { path, why } => {
                cni::Error::io(format!("ipam.dataDir: {path} {why}"), std::io::Error::other("refusing to use it"))
            }
            Error::Duplicate { ip, container_id } => cni::Error::plugin(
                code::DUPLICATE_ALLOCATION,
                format!("{ip} has been allocated to {container_id}, duplicate allocation is not allowed"),
            ),
            Error::Exhausted { range } => {
                cni::Error::plugin(code::RANGE_EXHAUSTED, format!("no IP addresses available in range set: {range}"))
            }
            Error::Unavailable { ip, why } => {
                cni::Error::plugin(code::ADDRESS_UNAVAILABLE, format!("requested IP address {ip} {why}"))
            }
            Error::NotFound { container_id, ifname } => cni::Error::plugin(
                code::CHECK_FAILED,
                format!("no address is reserved for container {container_id} interface {ifname}"),
            ),
        }
    }
}
