//! The crate's errors, mapped to CNI codes once, in `From<Error> for cni::Error`.

use cni::code;

#[derive(Debug)]
pub enum Error {
    /// A bad config value: code 7 naming the field. Nothing has been written.
    Config { field: String, msg: String },
    /// The store did not answer in time or is unreachable: a retry may work (code 11).
    Unavailable { msg: String },
    /// The store refused the request for good (bad credentials, permissions).
    Store { msg: String },
    /// Node-local state (slice cache, journal) could not be read or written.
    Io { what: String, source: std::io::Error },
    /// No slice and no address is left for this node in the network.
    Exhausted { network: String, range: String },
    /// CHECK: the attachment holds no allocation, or one the store no longer backs.
    NotFound { what: String },
    /// A record in the store is not what this crate writes (a bug or a foreign writer).
    Corrupt { key: String, msg: String },
}

impl Error {
    pub fn config(field: impl Into<String>, msg: impl Into<String>) -> Error {
        Error::Config { field: field.into(), msg: msg.into() }
    }

    pub fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io { what: what.into(), source }
    }
}

impl From<cni::Error> for Error {
    /// Only config decoding reaches here: keep its field and message.
    fn from(e: cni::Error) -> Error {
        match e {
            cni::Error::InvalidConfig { field, msg } => Error::Config { field, msg },
            other => Error::Config { field: "ipam".into(), msg: other.to_string() },
        }
    }
}

impl From<Error> for cni::Error {
    fn from(e: Error) -> cni::Error {
        match e {
            Error::Config { field, msg } => cni::Error::config(field, msg),
            Error::Unavailable { msg } => cni::Error::TryAgainLater { msg: format!("etcd: {msg}") },
            Error::Store { msg } => cni::Error::io("etcd", std::io::Error::other(msg)),
            Error::Io { what, source } => cni::Error::io(what, source),
            Error::Exhausted { network, range } => cni::Error::plugin(
                code::RANGE_EXHAUSTED,
                format!("network {network}: no free address left for this node in range {range}"),
            ),
            Error::NotFound { what } => cni::Error::plugin(code::CHECK_FAILED, what),
            Error::Corrupt { key, msg } => cni::Error::Internal { msg: format!("etcd key {key}: {msg}") },
        }
    }
}
