//! The verb dispatcher: a plugin implements [`Plugin`], and its `main` is
//! `cni::run(&MyPlugin)`. This does what Go's `skel` does — env and version
//! checks, printing results and errors — in one place for every binary.

use crate::args::CniArgs;
use crate::config::{self, Request};
use crate::env::{Command, Env, validate_id};
use crate::inproc::{self, InProcess};
use crate::result::CniResult;
use crate::version::{self, Version};
use crate::{Error, logging};
use serde::Serialize;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::process::ExitCode;

/// One CNI plugin binary. GC and STATUS default to forwarding to the
/// config's IPAM plugin (success without one): an interface plugin with
/// nothing of its own to collect or report still owes the runtime its
/// IPAM's answer. An IPAM plugin overrides both.
pub trait Plugin {
    /// One line printed to stderr when `CNI_COMMAND` is unset.
    fn about(&self) -> &'static str;

    /// `CNI_ARGS` keys the plugin reads; others need `IgnoreUnknown`.
    fn known_args(&self) -> &'static [&'static str] {
        &[]
    }

    /// False for a plugin that never reads `CNI_ARGS` (the reference's
    /// loopback): then no value of it is refused, as in Go, where only a
    /// plugin that loads its args can fail on them.
    fn reads_args(&self) -> bool {
        true
    }

    /// The oldest spec version the plugin speaks (the reference's chained
    /// plugins start at 0.3.0): VERSION lists from it on, and a config in
    /// an older one is refused with code 1 before any verb runs.
    fn oldest_version(&self) -> Version {
        Version::V0_1_0
    }

    fn add(&self, req: &Request) -> Result<CniResult, Error>;
    fn del(&self, req: &Request) -> Result<(), Error>;
    fn check(&self, req: &Request) -> Result<(), Error>;

    fn gc(&self, req: &Request) -> Result<(), Error> {
        crate::delegate::forward(req, Command::Gc)
    }

    fn status(&self, req: &Request) -> Result<(), Error> {
        crate::delegate::forward(req, Command::Status)
    }
}

/// Run the plugin for this process's env and stdin; print the result or the error JSON.
pub fn run(plugin: &dyn Plugin) -> ExitCode {
    inproc::keep_marker();
    install_panic_hook();
    let mut version = version::CURRENT.to_string();
    match dispatch(plugin, &mut version) {
        Ok(Some(output)) => print_json(&output),
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(code = e.code(), "{e}");
            print_json(&e.to_json(&version));
            ExitCode::FAILURE
        }
    }
}

/// [`run`], for a plugin that links the code of delegates it may run
/// in-process (see [`inproc`]).
pub fn run_with(plugin: &dyn Plugin, delegates: &'static [InProcess]) -> ExitCode {
    inproc::register(delegates);
    run(plugin)
}

/// Returns what to print on success. `version` is updated once the config's
/// version is known, so that errors are reported in it.
fn dispatch(plugin: &dyn Plugin, version: &mut String) -> Result<Option<Value>, Error> {
    let Some(env) = Env::from_process()? else {
        eprintln!("{}\nCNI protocol versions supported: {}", plugin.about(), supported(plugin).join(", "));
        return Ok(None);
    };
    if env.command == Command::Version {
        return Ok(Some(json!({"cniVersion": version::CURRENT, "supportedVersions": supported(plugin)})));
    }
    let mut stdin = Vec::new();
    std::io::stdin().read_to_end(&mut stdin).map_err(|e| Error::io("stdin", e))?;
    let req = request(plugin, env, stdin, version)?;
    logging::init(&req.conf);
    tracing::debug!(command = req.env.command.as_str(), container = %req.env.container_id, ifname = %req.env.ifname, "start");
    match req.env.command {
        Command::Add => plugin.add(&req).map(|r| Some(r.to_json(&req.conf.cni_version))),
        Command::Del => plugin.del(&req).map(|_| None),
        Command::Check => plugin.check(&req).map(|_| None),
        Command::Gc => plugin.gc(&req).map(|_| None),
        Command::Status => plugin.status(&req).map(|_| None),
        Command::Version => Ok(None),
    }
}

/// The versions VERSION reports: railcni's, from the plugin's oldest on.
fn supported(plugin: &dyn Plugin) -> Vec<&'static str> {
    let oldest = plugin.oldest_version();
    version::SUPPORTED.into_iter().filter(|v| Version::parse(v).is_some_and(|v| v >= oldest)).collect()
}

/// Validate what the spec and libcni validate before a verb runs. Public
/// for the fuzz targets, which build requests the way a run does.
pub fn request(plugin: &dyn Plugin, env: Env, stdin: Vec<u8>, version: &mut String) -> Result<Request, Error> {
    let (raw, mut conf) = config::parse_stdin(&stdin)?;
    if conf.cni_version.is_empty() {
        conf.cni_version = version::IMPLICIT.to_string();
    }
    let parsed = Version::supported(&conf.cni_version)?;
    *version = conf.cni_version.clone();
    parsed.require(plugin.oldest_version(), "this plugin")?;
    match env.command {
        Command::Check => parsed.require(Version::V0_4_0, "CHECK")?,
        Command::Gc | Command::Status => parsed.require(Version::V1_1_0, env.command.as_str())?,
        _ => {}
    }
    if conf.name.is_empty() {
        return Err(Error::config("name", "network name is missing"));
    }
    validate_id("network name", &conf.name).map_err(|m| Error::config("name", m))?;
    let args = if plugin.reads_args() { CniArgs::parse(&env.args, plugin.known_args())? } else { CniArgs::default() };
    Ok(Request { env, args, conf, version: parsed, raw, stdin })
}

/// Print with Go's 4-space indent, as `types.PrintResult` does.
fn print_json<T: Serialize>(value: &T) -> ExitCode {
    let mut out = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut out, serde_json::ser::PrettyFormatter::with_indent(b"    "));
    if value.serialize(&mut ser).is_err() {
        return ExitCode::FAILURE;
    }
    let mut stdout = std::io::stdout().lock();
    if stdout.write_all(&out).and_then(|_| stdout.flush()).is_err() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// A panic is a bug, but the runtime still deserves a CNI error object rather
/// than an empty stdout.
fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        let err = Error::Internal { msg: format!("internal error: plugin panicked: {info}") };
        print_json(&err.to_json(version::CURRENT));
    }));
}
