//! The crate's error: a kernel error or a protocol one. Kernel errors get
//! their CNI codes here, once, for every plugin.

use cni::code;
use std::fmt;

#[derive(Debug)]
pub enum Error {
    Kernel(netlink::Error),
    Cni(cni::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Invalid configuration (code 7), naming `field`.
    pub fn config(field: impl Into<String>, msg: impl Into<String>) -> Error {
        Error::Cni(cni::Error::config(field, msg))
    }

    /// A plugin-specific failure with its own code.
    pub fn plugin(code: u32, msg: impl Into<String>) -> Error {
        Error::Cni(cni::Error::plugin(code, msg))
    }

    /// A bug or an answer no plugin can use (code 999).
    pub fn internal(msg: impl Into<String>) -> Error {
        Error::Cni(cni::Error::Internal { msg: msg.into() })
    }
}

/// CHECK found a difference (code 103).
pub fn check_failed(msg: String) -> Error {
    Error::plugin(code::CHECK_FAILED, msg)
}

impl From<netlink::Error> for Error {
    fn from(e: netlink::Error) -> Error {
        Error::Kernel(e)
    }
}

impl From<cni::Error> for Error {
    fn from(e: cni::Error) -> Error {
        Error::Cni(e)
    }
}

/// A namespace that cannot be entered is a bad `CNI_NETNS` (code 4); a
/// `/proc` or sysfs failure is I/O (5); any other kernel refusal is
/// internal (999) unless a plugin mapped it to its own meaning first.
impl From<Error> for cni::Error {
    fn from(e: Error) -> cni::Error {
        match e {
            Error::Cni(e) => e,
            Error::Kernel(e @ netlink::Error::Netns { .. }) => cni::Error::env("CNI_NETNS", e.to_string()),
            Error::Kernel(netlink::Error::Io { what, source }) => cni::Error::io(what, source),
            Error::Kernel(e) => cni::Error::Internal { msg: e.to_string() },
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Kernel(e) => e.fmt(f),
            Error::Cni(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}
