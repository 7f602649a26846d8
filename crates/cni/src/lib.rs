//! railcni's CNI protocol crate: spec types for 0.1.0–1.1.0 and conversion
//! between them, env and stdin parsing and validation, the verb dispatcher,
//! errors carrying the spec's codes, and IPAM delegation by exec.

mod alloc;
pub mod args;
pub mod config;
pub mod delegate;
pub mod dispatch;
pub mod env;
pub mod error;
pub mod fault;
pub mod gc;
pub mod gojson;
pub mod inproc;
mod logging;
pub mod net;
pub mod policy;
pub mod result;
pub mod statefile;
pub mod version;

pub use config::Request;
pub use dispatch::{Plugin, run, run_with};
pub use env::Command;
pub use error::{Error, ErrorJson, code};
pub use result::{CniResult, Dns, Interface, IpConfig, Route};
