//! The netlink crate's error type. Kernel refusals keep their errno so that
//! callers can treat "already gone" and "already there" as the cases they are.

use std::fmt;

#[derive(Debug)]
pub enum Error {
    /// `path` is not a network namespace (or cannot be opened as one).
    Netns { path: String, why: String },
    /// The kernel refused `op` with `errno`.
    Kernel { op: String, errno: i32 },
    /// A netlink transport failure, or an answer we could not use.
    Netlink { op: String, msg: String },
    /// A lookup found nothing.
    NotFound { what: String },
    /// Waiting for kernel state took longer than allowed.
    Timeout { what: String },
    /// A `/proc` or sysfs access failed.
    Io { what: String, source: std::io::Error },
}

pub const ENOENT: i32 = 2;
pub const ESRCH: i32 = 3;
pub const ENODEV: i32 = 19;
pub const EEXIST: i32 = 17;
pub const EINVAL: i32 = 22;
pub const EADDRNOTAVAIL: i32 = 99;

impl Error {
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel { errno, .. } => Some(*errno),
            Error::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// The thing is not there: a missing link, address, route or namespace.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. }) || matches!(self.errno(), Some(ENOENT | ENODEV | ESRCH | EADDRNOTAVAIL))
    }

    pub fn is_exists(&self) -> bool {
        self.errno() == Some(EEXIST)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Netns { path, why } => write!(f, "netns {path}: {why}"),
            Error::Kernel { op, errno } => {
                write!(f, "{op}: {}", std::io::Error::from_raw_os_error(*errno))
            }
            Error::Netlink { op, msg } => write!(f, "{op}: {msg}"),
            Error::NotFound { what } => write!(f, "{what} not found"),
            Error::Timeout { what } => write!(f, "timed out waiting for {what}"),
            Error::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for Error {}
