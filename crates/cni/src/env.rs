//! The `CNI_*` environment: which verb, which attachment, and its validation.

use crate::Error;
use std::path::PathBuf;

/// The verbs of SPEC.md §2 (STATUS is the sixth, as libcni and skel treat it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Add,
    Del,
    Check,
    Gc,
    Status,
    Version,
}

impl Command {
    pub fn parse(s: &str) -> Result<Command, Error> {
        Ok(match s {
            "ADD" => Command::Add,
            "DEL" => Command::Del,
            "CHECK" => Command::Check,
            "GC" => Command::Gc,
            "STATUS" => Command::Status,
            "VERSION" => Command::Version,
            _ => {
                return Err(Error::env(
                    "CNI_COMMAND",
                    format!("unknown CNI_COMMAND {s:?}; expected ADD, DEL, CHECK, GC, STATUS or VERSION"),
                ));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
            Command::Check => "CHECK",
            Command::Gc => "GC",
            Command::Status => "STATUS",
            Command::Version => "VERSION",
        }
    }

    /// Variables that must be set and non-empty for this verb (skel's rules,
    /// except that `CNI_PATH` is optional as the spec says).
    fn required(self) -> &'static [&'static str] {
        match self {
            Command::Add | Command::Check => &["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"],
            Command::Del => &["CNI_CONTAINERID", "CNI_IFNAME"],
            Command::Gc | Command::Status | Command::Version => &[],
        }
    }

    /// Whether the verb concerns one attachment (and so has an ID and ifname).
    pub fn has_attachment(self) -> bool {
        matches!(self, Command::Add | Command::Del | Command::Check)
    }
}

/// The validated environment of one invocation.
#[derive(Debug, Clone)]
pub struct Env {
    pub command: Command,
    pub container_id: String,
    /// Empty when the runtime gave none (allowed for DEL).
    pub netns: String,
    pub ifname: String,
    /// Raw `CNI_ARGS`; parsed against the plugin's known keys by [`crate::args`].
    pub args: String,
    /// `CNI_PATH`, split on `:`.
    pub path: Vec<PathBuf>,
}

impl Env {
    /// Read the environment. `Ok(None)` means `CNI_COMMAND` is unset.
    pub fn from_process() -> Result<Option<Env>, Error> {
        Env::parse(|k| std::env::var(k).ok())
    }

    pub fn parse(get: impl Fn(&str) -> Option<String>) -> Result<Option<Env>, Error> {
        let Some(cmd) = get("CNI_COMMAND").filter(|c| !c.is_empty()) else {
            return Ok(None);
        };
        let command = Command::parse(&cmd)?;
        let var = |k: &str| get(k).unwrap_or_default();
        let missing: Vec<&str> = command.required().iter().copied().filter(|k| var(k).is_empty()).collect();
        if !missing.is_empty() {
            let names = missing.join(", ");
            return Err(Error::env(names.clone(), format!("required env variables [{names}] missing")));
        }
        let env = Env {
            command,
            container_id: var("CNI_CONTAINERID"),
            netns: var("CNI_NETNS"),
            ifname: var("CNI_IFNAME"),
            args: var("CNI_ARGS"),
            path: std::env::split_paths(&var("CNI_PATH")).filter(|p| !p.as_os_str().is_empty()).collect(),
        };
        if command.has_attachment() {
            validate_id("CNI_CONTAINERID", &env.container_id).map_err(|m| Error::env("CNI_CONTAINERID", m))?;
            validate_ifname(&env.ifname).map_err(|m| Error::env("CNI_IFNAME", m))?;
        }
        Ok(Some(env))
    }
}

/// `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`, the rule for container IDs and network names.
/// It also keeps both safe to use as a path component.
pub fn validate_id(what: &str, s: &str) -> Result<(), String> {
    let mut chars = s.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok { Ok(()) } else { Err(format!("{what} {s:?} is invalid; it must match ^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$")) }
}

/// The kernel's and libcni's interface name rules.
pub fn validate_ifname(s: &str) -> Result<(), String> {
    let why = if s.is_empty() {
        "is empty"
    } else if s.len() > 15 {
        "is longer than 15 bytes"
    } else if s == "." || s == ".." {
        "must not be . or .."
    } else if s.chars().any(|c| c == '/' || c == ':' || c.is_whitespace()) {
        "must not contain '/', ':' or whitespace"
    } else if s.chars().any(char::is_control) {
        // The kernel ends a netlink name at a NUL: "br\0x" would create "br".
        "must not contain NUL or control characters"
    } else {
        return Ok(());
    };
    Err(format!("interface name {s:?} {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<Option<Env>, Error> {
        let m: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Env::parse(|k| m.get(k).cloned())
    }

    #[test]
    fn no_command_is_not_an_error() {
        assert!(parse(&[]).unwrap().is_none());
    }

    #[test]
    fn missing_variables_are_listed() {
        let e = parse(&[("CNI_COMMAND", "ADD"), ("CNI_IFNAME", "eth0")]).unwrap_err();
        assert_eq!(e.code(), 4);
        assert!(e.to_string().contains("CNI_CONTAINERID, CNI_NETNS"), "{e}");
    }

    #[test]
    fn del_does_not_need_netns() {
        let env = parse(&[("CNI_COMMAND", "DEL"), ("CNI_CONTAINERID", "c1"), ("CNI_IFNAME", "eth0")]);
        assert_eq!(env.unwrap().unwrap().netns, "");
    }

    #[test]
    fn ifname_rules() {
        for bad in ["", ".", "..", "a/b", "a:b", "a b", "0123456789abcdef", "br\0x", "a\u{7f}b"] {
            assert!(validate_ifname(bad).is_err(), "{bad:?}");
        }
        assert!(validate_ifname("net1").is_ok());
        assert!(validate_ifname("0123456789abcde").is_ok());
    }

    #[test]
    fn container_id_rules() {
        for bad in ["", "-a", ".a", "a/b", "a b", "../x"] {
            assert!(validate_id("x", bad).is_err(), "{bad:?}");
        }
        assert!(validate_id("x", "cnitool-0123abc_x.y-z").is_ok());
    }

    #[test]
    fn unknown_command_is_bad_env() {
        let e = parse(&[("CNI_COMMAND", "FROB")]).unwrap_err();
        assert_eq!(e.code(), 4);
    }
}
