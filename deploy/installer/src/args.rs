//! The command line. Flags only, no config file: a DaemonSet's `args` list is
//! the whole configuration, visible in `kubectl describe`.

use std::path::PathBuf;

pub const USAGE: &str = "\
usage: railcni-install [install|uninstall] [options]

  install     copy every file of --src into --bin-dir (atomically, unchanged
              files skipped) and each --conflist into --conf-dir (default)
  uninstall   remove from --bin-dir and --conf-dir the files that are still
              byte-identical to ours

options:
  --src DIR        the plugins to install            (default /railcni/bin)
  --bin-dir DIR    the node's CNI bin dir            (default /host/opt/cni/bin)
  --conf-dir DIR   the node's CNI config dir         (default /host/etc/cni/net.d)
  --conflist FILE  a network config to write into --conf-dir under its own
                   file name; repeatable
  --once           exit when done (init container, Job) instead of waiting
                   for SIGTERM (DaemonSet)
  --version        print the version and exit
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Install,
    Uninstall,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub verb: Verb,
    pub src: PathBuf,
    pub bin_dir: PathBuf,
    pub conf_dir: PathBuf,
    pub conflists: Vec<PathBuf>,
    pub once: bool,
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Options),
    Help,
    Version,
}

pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Parsed, String> {
    let mut o = Options {
        verb: Verb::Install,
        src: PathBuf::from("/railcni/bin"),
        bin_dir: PathBuf::from("/host/opt/cni/bin"),
        conf_dir: PathBuf::from("/host/etc/cni/net.d"),
        conflists: Vec::new(),
        once: false,
    };
    let mut verb_seen = false;
    // `--flag=value` is the same as `--flag value`.
    let mut it = args.into_iter().flat_map(|a| match a.split_once('=') {
        Some((flag, value)) if flag.starts_with("--") => vec![flag.to_string(), value.to_string()],
        _ => vec![a],
    });
    while let Some(a) = it.next() {
        let mut value = |flag: &str| it.next().filter(|v| !v.is_empty()).ok_or(format!("{flag} needs a value"));
        match a.as_str() {
            "install" | "uninstall" if !verb_seen => {
                o.verb = if a == "install" { Verb::Install } else { Verb::Uninstall };
                verb_seen = true;
            }
            "--src" => o.src = value("--src")?.into(),
            "--bin-dir" => o.bin_dir = value("--bin-dir")?.into(),
            "--conf-dir" => o.conf_dir = value("--conf-dir")?.into(),
            "--conflist" => o.conflists.push(value("--conflist")?.into()),
            "--once" => o.once = true,
            "-h" | "--help" => return Ok(Parsed::Help),
            "--version" => return Ok(Parsed::Version),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Parsed::Run(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Parsed, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_are_the_daemonset_layout() {
        let Ok(Parsed::Run(o)) = run(&[]) else { panic!("no options") };
        assert_eq!(o.verb, Verb::Install);
        assert_eq!(o.src, PathBuf::from("/railcni/bin"));
        assert_eq!(o.bin_dir, PathBuf::from("/host/opt/cni/bin"));
        assert_eq!(o.conf_dir, PathBuf::from("/host/etc/cni/net.d"));
        assert!(o.conflists.is_empty() && !o.once);
    }

    #[test]
    fn flags_and_verb() {
        let parsed =
            run(&["uninstall", "--bin-dir", "/b", "--conflist", "/a.conflist", "--conflist", "/b.conf", "--once"]);
        let Ok(Parsed::Run(o)) = parsed else { panic!("{parsed:?}") };
        assert_eq!(o.verb, Verb::Uninstall);
        assert_eq!(o.bin_dir, PathBuf::from("/b"));
        assert_eq!(o.conflists, vec![PathBuf::from("/a.conflist"), PathBuf::from("/b.conf")]);
        assert!(o.once);
    }

    #[test]
    fn mistakes_are_named() {
        assert_eq!(run(&["--src"]), Err("--src needs a value".to_string()));
        assert_eq!(run(&["--src", ""]), Err("--src needs a value".to_string()));
        assert_eq!(run(&["--src="]), Err("--src needs a value".to_string()));
        assert_eq!(run(&["install", "install"]), Err("unknown argument \"install\"".to_string()));
        assert_eq!(run(&["--bogus"]), Err("unknown argument \"--bogus\"".to_string()));
        assert_eq!(run(&["--version"]), Ok(Parsed::Version));
    }
}
