//! `railcni-ipam`, the operator's tool for cluster-ipam's store: it reads
//! the node settings file for etcd's endpoints, TLS and credentials, and
//! runs one command (see [`args::USAGE`]).

pub mod args;
pub mod check;
pub mod free;
pub mod heartbeat;
pub mod list;
pub mod scan;

use crate::Error;
use crate::etcd::Etcd;
use crate::settings::NodeSettings;
use args::Command;
use serde::Serialize;
use std::io::Read;
use std::process::ExitCode;

const FINDINGS: u8 = 1;
const USAGE: u8 = 2;
const FAILED: u8 = 3;
/// The least time one command may spend on etcd, all calls together.
const ADMIN_BUDGET_SECS: u64 = 120;

pub fn main(argv: impl IntoIterator<Item = String>) -> ExitCode {
    let args = match args::parse(argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("railcni-ipam: {e}\n\n{}", args::USAGE);
            return ExitCode::from(USAGE);
        }
    };
    if args.command == Command::Help {
        print!("{}", args::USAGE);
        return ExitCode::SUCCESS;
    }
    logging(&args.command);
    let settings = match crate::settings::load(&args.config) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    match run(&args.command, &settings, args.json) {
        Ok(code) => code,
        Err(e) => fail(e),
    }
}

/// Logs to stderr; the heartbeat says when it (re)takes its lease, the rest only warns.
fn logging(command: &Command) {
    use tracing_subscriber::filter::LevelFilter;
    let level = match std::env::var("RAILCNI_LOG").unwrap_or_default().to_ascii_lowercase().as_str() {
        "error" => LevelFilter::ERROR,
        "warn" | "warning" => LevelFilter::WARN,
        "info" => LevelFilter::INFO,
        "debug" => LevelFilter::DEBUG,
        "trace" => LevelFilter::TRACE,
        _ if *command == Command::Heartbeat => LevelFilter::INFO,
        _ => LevelFilter::WARN,
    };
    let _ = tracing_subscriber::fmt().with_max_level(level).with_ansi(false).with_writer(std::io::stderr).try_init();
}

fn fail(e: Error) -> ExitCode {
    eprintln!("railcni-ipam: {}", cni::Error::from(e));
    ExitCode::from(FAILED)
}

fn run(command: &Command, settings: &NodeSettings, json: bool) -> Result<ExitCode, Error> {
    if *command == Command::Heartbeat {
        return Err(heartbeat::run(settings).into());
    }
    // One command makes a call per allocation it frees: a budget for all of them.
    let budget = settings.timeout.max(std::time::Duration::from_secs(ADMIN_BUDGET_SECS));
    let mut store = Etcd::new(settings.etcd.clone(), budget)?;
    match command {
        Command::List => {
            let l = list::listing(&scan::read(&mut store)?);
            if json {
                print_json(&l)
            } else {
                list::print(&l)
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => {
            let found = check::findings(&scan::read(&mut store)?);
            if json {
                print_json(&serde_json::json!({"ok": found.is_empty(), "findings": found}));
            } else if found.is_empty() {
                println!("check: the store is consistent");
            } else {
                found.iter().for_each(|f| println!("{f}"));
                println!("check: {} findings", found.len());
            }
            Ok(if found.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(FINDINGS) })
        }
        Command::ReleaseNode { node, force } => {
            let freed = free::release_node(&mut store, node, *force)?;
            report(&format!("release-node {node}"), &freed, json);
            Ok(ExitCode::SUCCESS)
        }
        Command::Gc { live, node } => {
            let text = read_live(live)?;
            let live = free::parse_live(&text);
            if live.is_empty() {
                return Err(Error::config(
                    "--live",
                    format!("{live:?}: the live list is empty; refusing to free everything"),
                ));
            }
            let freed = free::gc(&mut store, &live, node.as_deref())?;
            report("gc", &freed, json);
            Ok(ExitCode::SUCCESS)
        }
        Command::Heartbeat | Command::Help => Ok(ExitCode::SUCCESS),
    }
}

fn read_live(source: &str) -> Result<String, Error> {
    let mut text = String::new();
    let read = if source == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(source).map(|t| text = t)
    };
    read.map_err(|e| Error::config("--live", format!("{source}: {e}")))?;
    Ok(text)
}

fn report(what: &str, f: &free::Freed, json: bool) {
    if json {
        return print_json(f);
    }
    for a in &f.allocations {
        println!("freed {a}");
    }
    for k in f.slices.iter().chain(&f.other) {
        println!("deleted {k}");
    }
    for k in &f.kept {
        println!("kept {k}");
    }
    println!("{what}: {} allocations, {} slices freed", f.allocations.len(), f.slices.len());
}

fn print_json<T: Serialize>(v: &T) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}
