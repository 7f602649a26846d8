//! IPAM delegation by exec (SPEC.md §4): the delegate gets the same stdin and
//! env, with only `CNI_COMMAND` changed.

use crate::args::CniArgs;
use crate::config::Request;
use crate::env::Command;
use crate::error::{ErrorJson, code};
use crate::inproc;
use crate::result::CniResult;
use crate::{Error, Plugin};
use serde_json::Value;
use std::io::{ErrorKind, Write};
use std::path::PathBuf;
use std::process::{Child, Stdio};

/// The `ipam.type` of the request's config, or an error naming it.
pub fn ipam_type(req: &Request) -> Result<&str, Error> {
    match req.conf.ipam.as_ref().map(|i| i.ipam_type.as_str()) {
        Some(t) if !t.is_empty() => Ok(t),
        Some(_) => {
            Err(Error::config("ipam.type", "no IPAM plugin named; set ipam.type (or use \"ipam\": {} for L2 only)"))
        }
        None => Err(Error::config("ipam", "missing")),
    }
}

/// Whether the config asks for IPAM at all (`"ipam": {}` means L2 only).
pub fn has_ipam(req: &Request) -> bool {
    req.conf.ipam.as_ref().is_some_and(|i| !i.ipam_type.is_empty())
}

/// Find `plugin` in `CNI_PATH`.
pub fn find(req: &Request, plugin: &str) -> Result<PathBuf, Error> {
    if plugin.is_empty() || plugin.contains('/') || plugin == "." || plugin == ".." {
        return Err(Error::config("ipam.type", format!("{plugin:?} is not a plugin name")));
    }
    if req.env.path.is_empty() {
        return Err(Error::env("CNI_PATH", format!("is empty; cannot find delegate plugin {plugin:?}")));
    }
    req.env.path.iter().map(|dir| dir.join(plugin)).find(|p| p.is_file()).ok_or_else(|| {
        Error::config("ipam.type", format!("plugin {plugin:?} not found in CNI_PATH {:?}", req.env.path))
    })
}

/// Run `plugin` with `command`. ADD returns the parsed result; other verbs `None`.
pub fn exec(req: &Request, plugin: &str, command: Command) -> Result<Option<CniResult>, Error> {
    let path = find(req, plugin)?;
    if let Some(linked) = inproc::lookup(plugin, &path) {
        tracing::debug!(delegate = plugin, command = command.as_str(), "running the delegate in-process");
        return run_in_process(req, linked, command);
    }
    let output = run(&path, command, req)?;
    if !output.stderr.is_empty() {
        // The delegate's logs are ours too; keep them on stderr.
        let _ = std::io::stderr().write_all(&output.stderr);
    }
    if !output.status.success() {
        return Err(Error::Delegate(delegate_error(plugin, &output)));
    }
    if command != Command::Add {
        return Ok(None);
    }
    let value: Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| Error::Internal { msg: format!("delegate {plugin:?} printed an unreadable result: {e}") })?;
    CniResult::parse(value, &req.conf.cni_version, "ipam result")
        .map(Some)
        .map_err(|e| Error::Internal { msg: format!("delegate {plugin:?} result: {}: {}", e.path, e.msg) })
}

/// What exec'ing the railcni binary would do, without the exec: the
/// delegate's own `CNI_ARGS` rules, and its result as printed and read back
/// in the config's version (0.2.0 keeps one address per family).
fn run_in_process(req: &Request, plugin: &dyn Plugin, command: Command) -> Result<Option<CniResult>, Error> {
    let mut sub = req.clone();
    sub.env.command = command;
    sub.args = CniArgs::parse(&req.env.args, plugin.known_args())?;
    match command {
        Command::Add => {
            let printed = plugin.add(&sub)?.to_json(&req.conf.cni_version);
            CniResult::parse(printed, &req.conf.cni_version, "ipam result")
                .map(Some)
                .map_err(|e| Error::Internal { msg: format!("in-process IPAM result: {}: {}", e.path, e.msg) })
        }
        Command::Del => plugin.del(&sub).map(|_| None),
        Command::Check => plugin.check(&sub).map(|_| None),
        Command::Gc => plugin.gc(&sub).map(|_| None),
        Command::Status => plugin.status(&sub).map(|_| None),
        Command::Version => Ok(None),
    }
}

/// An error object from the delegate's stdout, or one built from its stderr,
/// as libcni does when stdout is not an error.
fn delegate_error(plugin: &str, output: &std::process::Output) -> ErrorJson {
    serde_json::from_slice::<ErrorJson>(&output.stdout).unwrap_or_else(|_| ErrorJson {
        cni_version: String::new(),
        code: code::INTERNAL,
        msg: format!(
            "delegate {plugin:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        details: String::new(),
    })
}

fn run(path: &PathBuf, command: Command, req: &Request) -> Result<std::process::Output, Error> {
    let mut child = spawn(path, command, req)?;
    if let Some(mut pipe) = child.stdin.take() {
        // A delegate that exits without reading stdin closes the pipe; its exit status tells the rest.
        if let Err(e) = pipe.write_all(&req.stdin)
            && e.kind() != ErrorKind::BrokenPipe
        {
            return Err(Error::io(format!("writing stdin of {}", path.display()), e));
        }
    }
    child.wait_with_output().map_err(|e| Error::io(format!("waiting for {}", path.display()), e))
}

/// Spawn, retrying while the binary is being replaced (ETXTBSY), as libcni does.
/// The delegate inherits our environment, with the attachment variables set
/// from the request (the same values, stated rather than assumed).
fn spawn(path: &PathBuf, command: Command, req: &Request) -> Result<Child, Error> {
    const ETXTBSY: i32 = 26;
    let cni_path = std::env::join_paths(&req.env.path).unwrap_or_default();
    let mut tries = 0;
    loop {
        let spawned = std::process::Command::new(path)
            .env("CNI_COMMAND", command.as_str())
            .env("CNI_CONTAINERID", &req.env.container_id)
            .env("CNI_NETNS", &req.env.netns)
            .env("CNI_IFNAME", &req.env.ifname)
            .env("CNI_ARGS", &req.env.args)
            .env("CNI_PATH", &cni_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        match spawned {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && tries < 5 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50 << tries));
            }
            other => {
                return other.map_err(|e| Error::io(format!("executing {}", path.display()), e));
            }
        }
    }
}

/// An IPAM allocation made for an ADD. Unless [`IpamLease::keep`] is called,
/// dropping it releases the addresses again (IPAM DEL), so an ADD that fails
/// after IPAM leaves no reservation behind.
pub struct IpamLease<'a> {
    req: &'a Request,
    plugin: String,
    pub result: CniResult,
    armed: bool,
}

impl<'a> IpamLease<'a> {
    /// Run IPAM ADD for the request's `ipam.type`.
    pub fn add(req: &'a Request) -> Result<IpamLease<'a>, Error> {
        let plugin = ipam_type(req)?.to_string();
        let result = exec(req, &plugin, Command::Add)?
            .ok_or_else(|| Error::Internal { msg: format!("delegate {plugin:?} returned no result") })?;
        Ok(IpamLease { req, plugin, result, armed: true })
    }

    /// The ADD succeeded; keep the addresses.
    pub fn keep(mut self) -> CniResult {
        self.armed = false;
        std::mem::take(&mut self.result)
    }
}

impl Drop for IpamLease<'_> {
    fn drop(&mut self) {
        if self.armed
            && let Err(e) = exec(self.req, &self.plugin, Command::Del)
        {
            tracing::warn!("rolling back IPAM after a failed ADD: {e}");
        }
    }
}

/// Forward CHECK, DEL, GC or STATUS to the IPAM plugin, if the config has one.
pub fn forward(req: &Request, command: Command) -> Result<(), Error> {
    if !has_ipam(req) {
        return Ok(());
    }
    exec(req, ipam_type(req)?, command).map(|_| ())
}
