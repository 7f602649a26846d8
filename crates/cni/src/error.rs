//! The one error type of the protocol crate, and its mapping to the spec's codes.
//!
//! Other crates keep their own error enums and convert into [`Error`] once, so
//! the code a runtime sees is decided in exactly one place per crate.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Error codes from the CNI spec (SPEC.md §5), plus railcni's plugin-specific ones (100+).
pub mod code {
    pub const INCOMPATIBLE_VERSION: u32 = 1;
    pub const UNSUPPORTED_FIELD: u32 = 2;
    pub const UNKNOWN_CONTAINER: u32 = 3;
    pub const INVALID_ENV: u32 = 4;
    pub const IO: u32 = 5;
    pub const DECODE: u32 = 6;
    pub const INVALID_CONFIG: u32 = 7;
    pub const TRY_AGAIN_LATER: u32 = 11;
    pub const NOT_AVAILABLE: u32 = 50;
    pub const NOT_AVAILABLE_LIMITED: u32 = 51;
    /// The attachment already holds an address in this range set.
    pub const DUPLICATE_ALLOCATION: u32 = 100;
    /// No free address is left in the range set.
    pub const RANGE_EXHAUSTED: u32 = 101;
    /// A specifically requested address is taken or is the gateway.
    pub const ADDRESS_UNAVAILABLE: u32 = 102;
    /// CHECK found state that is missing or differs from what was set up.
    pub const CHECK_FAILED: u32 = 103;
    /// ADD: the interface named by `CNI_IFNAME` already exists in the netns.
    pub const INTERFACE_EXISTS: u32 = 104;
    pub const INTERNAL: u32 = 999;
}

/// What a plugin run can fail with. Every variant names the field or variable at fault.
#[derive(Debug)]
pub enum Error {
    /// `cniVersion` (or a verb's minimum version) does not fit.
    IncompatibleVersion { field: String, msg: String },
    /// A field the plugin does not support in this combination.
    UnsupportedField { field: String, msg: String },
    /// A `CNI_*` variable is missing or malformed.
    InvalidEnv { var: String, msg: String },
    /// Reading input or touching plugin state failed.
    Io { what: String, source: std::io::Error },
    /// stdin is not a JSON object.
    Decode { msg: String },
    /// The configuration is well-formed JSON but invalid.
    InvalidConfig { field: String, msg: String },
    /// A transient condition; the runtime may retry.
    TryAgainLater { msg: String },
    /// STATUS: the plugin cannot serve ADD right now.
    NotAvailable { msg: String },
    /// A plugin-specific failure with its own code (100 and above).
    Plugin { code: u32, msg: String },
    /// A delegated plugin (IPAM) failed; its error is passed through unchanged.
    Delegate(ErrorJson),
    /// A bug or an unexpected kernel answer.
    Internal { msg: String },
}

impl Error {
    pub fn config(field: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::InvalidConfig { field: field.into(), msg: msg.into() }
    }

    pub fn env(var: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::InvalidEnv { var: var.into(), msg: msg.into() }
    }

    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { what: what.into(), source }
    }

    pub fn plugin(code: u32, msg: impl Into<String>) -> Self {
        Error::Plugin { code, msg: msg.into() }
    }

    pub fn code(&self) -> u32 {
        match self {
            Error::IncompatibleVersion { .. } => code::INCOMPATIBLE_VERSION,
            Error::UnsupportedField { .. } => code::UNSUPPORTED_FIELD,
            Error::InvalidEnv { .. } => code::INVALID_ENV,
            Error::Io { source, .. } => io_code(source),
            Error::Decode { .. } => code::DECODE,
            Error::InvalidConfig { .. } => code::INVALID_CONFIG,
            Error::TryAgainLater { .. } => code::TRY_AGAIN_LATER,
            Error::NotAvailable { .. } => code::NOT_AVAILABLE,
            Error::Plugin { code, .. } => *code,
            Error::Delegate(e) => e.code,
            Error::Internal { .. } => code::INTERNAL,
        }
    }

    /// The error as the JSON object the spec prints on stdout.
    pub fn to_json(&self, cni_version: &str) -> ErrorJson {
        match self {
            Error::Delegate(e) => ErrorJson { cni_version: cni_version.to_string(), ..e.clone() },
            _ => ErrorJson {
                cni_version: cni_version.to_string(),
                code: self.code(),
                msg: self.to_string(),
                details: String::new(),
            },
        }
    }
}

/// Errors that a retry can fix (a full disk, a busy resource) get code 11,
/// so a runtime backs off instead of failing the pod for good.
fn io_code(e: &std::io::Error) -> u32 {
    const TRANSIENT: [i32; 5] =
        [28 /* ENOSPC */, 122 /* EDQUOT */, 11 /* EAGAIN */, 16 /* EBUSY */, 4 /* EINTR */];
    match e.raw_os_error() {
        Some(errno) if TRANSIENT.contains(&errno) => code::TRY_AGAIN_LATER,
        _ => code::IO,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::IncompatibleVersion { field, msg }
            | Error::UnsupportedField { field, msg }
            | Error::InvalidConfig { field, msg } => write!(f, "{field}: {msg}"),
            Error::InvalidEnv { var, msg } => write!(f, "{var}: {msg}"),
            Error::Io { what, source } => write!(f, "{what}: {source}"),
            Error::Decode { msg }
            | Error::TryAgainLater { msg }
            | Error::NotAvailable { msg }
            | Error::Plugin { msg, .. }
            | Error::Internal { msg } => f.write_str(msg),
            Error::Delegate(e) => f.write_str(&e.msg),
        }
    }
}

impl std::error::Error for Error {}

/// The error object of SPEC.md §5, as printed and as parsed from a delegate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorJson {
    #[serde(rename = "cniVersion", default, skip_serializing_if = "String::is_empty")]
    pub cni_version: String,
    pub code: u32,
    #[serde(default)]
    pub msg: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub details: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_split_into_transient_and_hard() {
        let full = Error::io("write", std::io::Error::from_raw_os_error(28));
        let ro = Error::io("write", std::io::Error::from_raw_os_error(30));
        assert_eq!(full.code(), code::TRY_AGAIN_LATER);
        assert_eq!(ro.code(), code::IO);
    }

    #[test]
    fn message_names_the_field() {
        let e = Error::config("ipam.subnet", "has host bits set");
        assert_eq!(e.to_string(), "ipam.subnet: has host bits set");
        let j = e.to_json("1.1.0");
        assert_eq!(j.code, 7);
        let s = serde_json::to_string(&j).unwrap();
        assert!(!s.contains("details"), "{s}");
    }
}
