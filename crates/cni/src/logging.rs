//! Logs go to stderr, or to the config's `logFile`; never to stdout, which
//! belongs to the protocol.

use crate::config::NetConf;
use std::fs::OpenOptions;
use std::sync::Mutex;
use tracing_subscriber::filter::LevelFilter;

/// Set up logging once per process. `RAILCNI_LOG` (a level name) overrides `logLevel`.
/// A plain level filter, not an env-filter: that one pulls in a regex engine,
/// and every plugin process would pay for it in start-up time and memory.
pub fn init(conf: &NetConf) {
    let wanted = std::env::var("RAILCNI_LOG").unwrap_or_else(|_| conf.log_level.clone());
    let level = match wanted.to_ascii_lowercase().as_str() {
        "" | "warning" | "warn" => LevelFilter::WARN,
        "panic" | "fatal" | "error" => LevelFilter::ERROR,
        "info" => LevelFilter::INFO,
        "debug" => LevelFilter::DEBUG,
        "off" => LevelFilter::OFF,
        _ => LevelFilter::TRACE,
    };
    let builder = tracing_subscriber::fmt().with_max_level(level).with_ansi(false);
    let file = (!conf.log_file.is_empty())
        .then(|| OpenOptions::new().create(true).append(true).open(&conf.log_file).ok())
        .flatten();
    // A second init (tests) fails harmlessly.
    let _ = match file {
        Some(f) => builder.with_writer(Mutex::new(f)).try_init(),
        None => builder.with_writer(std::io::stderr).try_init(),
    };
}
