//! The observable result of one plugin run, and the checks every test repeats.
//!
//! `check_*` return `Err(description)` so table-driven tests can collect every
//! failing case; `assert_*` are the panicking wrappers for ordinary tests.

use crate::binary::Binary;
use crate::exec::{RawRun, Usage};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

/// Exit status Rust uses for a panic that unwinds out of `main`.
pub const PANIC_EXIT: i32 = 101;

#[derive(Debug)]
pub struct Outcome {
    pub plugin: String,
    /// The CNI_* variables the child got (`None` = unset).
    pub vars: BTreeMap<String, Option<String>>,
    pub stdin: Vec<u8>,
    /// `None` if the process could not be run at all (see `spawn_error`).
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub usage: Usage,
    pub wall: Duration,
    pub timed_out: bool,
    pub spawn_error: Option<String>,
}

impl Outcome {
    pub(crate) fn new(
        plugin: &Binary,
        vars: &BTreeMap<String, Option<String>>,
        stdin: &[u8],
        run: io::Result<RawRun>,
    ) -> Outcome {
        let mut o = Outcome {
            plugin: format!("{} ({})", plugin.path().display(), plugin.label()),
            vars: vars.clone(),
            stdin: stdin.to_vec(),
            exit_code: None,
            signal: None,
            stdout: Vec::new(),
            stderr: Vec::new(),
            usage: Usage::default(),
            wall: Duration::ZERO,
            timed_out: false,
            spawn_error: None,
        };
        match run {
            Ok(r) => {
                o.exit_code = r.status.code();
                o.signal = r.status.signal();
                o.stdout = r.stdout;
                o.stderr = r.stderr;
                o.usage = r.usage;
                o.wall = r.wall;
                o.timed_out = r.timed_out;
            }
            Err(e) => o.spawn_error = Some(e.to_string()),
        }
        o
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// A Rust panic: exit status 101 or the panic message on stderr.
    pub fn panicked(&self) -> bool {
        self.exit_code == Some(PANIC_EXIT) || self.stderr_str().contains("panicked")
    }

    /// stdout parsed as JSON.
    pub fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.stdout).map_err(|e| format!("stdout is not JSON: {e}"))
    }

    /// Everything needed to reproduce and diagnose a run, for failure messages.
    pub fn describe(&self) -> String {
        let env: Vec<String> = self
            .vars
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v:?}"),
                None => format!("{k}=<unset>"),
            })
            .collect();
        let status = match (self.exit_code, self.signal, &self.spawn_error) {
            (_, _, Some(e)) => format!("could not run: {e}"),
            (Some(c), _, _) => format!("exit {c}"),
            (None, Some(s), _) => format!("killed by signal {s}"),
            _ => "unknown".into(),
        };
        format!(
            "plugin: {}\n  env: {}\n  stdin: {}\n  status: {}{}\n  stdout: {}\n  stderr: {}",
            self.plugin,
            env.join(" "),
            String::from_utf8_lossy(&self.stdin),
            status,
            if self.timed_out { " (timed out)" } else { "" },
            self.compact_stdout(),
            self.stderr_str().trim_end(),
        )
    }

    /// JSON stdout on one line (plugins pretty-print), raw text otherwise.
    fn compact_stdout(&self) -> String {
        match self.json() {
            Ok(v) => v.to_string(),
            Err(_) => self.stdout_str().trim_end().to_string(),
        }
    }

    fn no_panic(&self) -> Result<(), String> {
        if let Some(e) = &self.spawn_error {
            return Err(format!("could not run plugin: {e}\n{}", self.describe()));
        }
        if self.timed_out {
            return Err(format!("plugin timed out\n{}", self.describe()));
        }
        if self.panicked() {
            return Err(format!("plugin panicked\n{}", self.describe()));
        }
        if let Some(s) = self.signal {
            return Err(format!("plugin died of signal {s}\n{}", self.describe()));
        }
        Ok(())
    }

    /// Exit 0, no panic.
    pub fn check_ok(&self) -> Result<(), String> {
        self.no_panic()?;
        if !self.success() {
            return Err(format!("expected success\n{}", self.describe()));
        }
        Ok(())
    }

    /// Exit 0 and nothing on stdout (DEL, CHECK, GC, STATUS).
    pub fn check_ok_silent(&self) -> Result<(), String> {
        self.check_ok()?;
        if !self.stdout.iter().all(u8::is_ascii_whitespace) {
            return Err(format!("expected empty stdout\n{}", self.describe()));
        }
        Ok(())
    }

    /// Exit 0 and a JSON object on stdout.
    pub fn check_ok_json(&self) -> Result<Value, String> {
        self.check_ok()?;
        match self.json() {
            Ok(v) if v.is_object() => Ok(v),
            Ok(_) => Err(format!("stdout is not a JSON object\n{}", self.describe())),
            Err(e) => Err(format!("{e}\n{}", self.describe())),
        }
    }

    /// An error JSON with `code` and a non-empty `msg` on stdout, non-zero exit,
    /// no panic. Returns the msg (plus details, when present).
    pub fn check_error(&self, code: u64) -> Result<String, String> {
        self.no_panic()?;
        if self.success() {
            return Err(format!("expected error code {code}, got success\n{}", self.describe()));
        }
        let v = self.json().map_err(|e| format!("expected error JSON: {e}\n{}", self.describe()))?;
        let got = v.get("code").and_then(Value::as_u64);
        if got != Some(code) {
            return Err(format!("expected error code {code}, got {got:?}\n{}", self.describe()));
        }
        let msg = match v.get("msg").and_then(Value::as_str) {
            Some(m) if !m.trim().is_empty() => m.to_string(),
            _ => {
                return Err(format!("error JSON lacks a non-empty msg\n{}", self.describe()));
            }
        };
        let details = v.get("details").and_then(Value::as_str).unwrap_or("");
        Ok(format!("{msg} {details}"))
    }

    /// [`Outcome::check_error`], plus: the msg/details name one of `keys`.
    pub fn check_error_naming(&self, code: u64, keys: &[&str]) -> Result<String, String> {
        let msg = self.check_error(code)?;
        if keys.is_empty() || keys.iter().any(|k| msg.contains(k)) {
            Ok(msg)
        } else {
            Err(format!("error msg names none of {keys:?} (the offending field/variable)\n{}", self.describe()))
        }
    }

    #[track_caller]
    pub fn assert_ok(&self) {
        if let Err(e) = self.check_ok() {
            panic!("{e}");
        }
    }

    #[track_caller]
    pub fn assert_ok_silent(&self) {
        if let Err(e) = self.check_ok_silent() {
            panic!("{e}");
        }
    }

    #[track_caller]
    pub fn assert_ok_json(&self) -> Value {
        self.check_ok_json().unwrap_or_else(|e| panic!("{e}"))
    }

    #[track_caller]
    pub fn assert_error(&self, code: u64) -> String {
        self.check_error(code).unwrap_or_else(|e| panic!("{e}"))
    }

    #[track_caller]
    pub fn assert_error_naming(&self, code: u64, keys: &[&str]) -> String {
        self.check_error_naming(code, keys).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Any error JSON (the reference plugins use 999 for nearly everything).
    #[track_caller]
    pub fn assert_some_error(&self) -> u64 {
        if let Err(e) = self.no_panic() {
            panic!("{e}");
        }
        assert!(!self.success(), "expected an error\n{}", self.describe());
        let v = self.json().unwrap_or_else(|e| panic!("expected error JSON: {e}\n{}", self.describe()));
        v.get("code").and_then(Value::as_u64).unwrap_or_else(|| panic!("error JSON lacks a code\n{}", self.describe()))
    }
}
