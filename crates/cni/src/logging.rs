//! Logs go to stderr, or to the config's `logFile`; never to stdout, which
//! belongs to the protocol.

use crate::config::NetConf;
use std::fs::OpenOptions;
use std::sync::Mutex;
use tracing_subscriber::EnvFilter;

/// Set up logging once per process. `RAILCNI_LOG` (an env-filter) overrides `logLevel`.
pub fn init(conf: &NetConf) {
    let level = match conf.log_level.to_ascii_lowercase().as_str() {
        "" => "warn",
        "panic" | "fatal" | "error" => "error",
        "warning" | "warn" => "warn",
        "info" => "info",
        "debug" => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("RAILCNI_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false);
    let file = (!conf.log_file.is_empty())
        .then(|| OpenOptions::new().create(true).append(true).open(&conf.log_file).ok())
        .flatten();
    // A second init (tests) fails harmlessly.
    let _ = match file {
        Some(f) => builder.with_writer(Mutex::new(f)).try_init(),
        None => builder.with_writer(std::io::stderr).try_init(),
    };
}
