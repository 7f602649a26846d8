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

cluster-ipam's node settings (see README, 'cluster-ipam on Kubernetes'):
  --cluster-ipam-secret DIR
                   a mounted Secret (keys endpoints, ca.crt, tls.crt, tls.key,
                   username, password, node-grace-seconds): its credentials are
                   copied into --conf-dir/railcni.d/etcd/ and
                   --conf-dir/railcni.d/cluster-ipam.json is written, all mode
                   0600; uninstall removes them
  --node-name NAME the node's name in cluster-ipam (default: $NODE_NAME, which
                   the DaemonSet sets from spec.nodeName)
  --host-conf-dir DIR
                   --conf-dir as the node sees it, for the paths written into
                   cluster-ipam.json                (default /etc/cni/net.d)
  --resync SECONDS while waiting, render the Secret again this often, so a
                   rotated certificate reaches the node; 0: never  (default 60)
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
    pub cluster_ipam_secret: Option<PathBuf>,
    pub node_name: Option<String>,
    pub host_conf_dir: PathBuf,
    pub resync_secs: u64,
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
        cluster_ipam_secret: None,
        node_name: None,
        host_conf_dir: PathBuf::from("/etc/cni/net.d"),
        resync_secs: 60,
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
            "--cluster-ipam-secret" => o.cluster_ipam_secret = Some(value("--cluster-ipam-secret")?.into()),
            "--node-name" => o.node_name = Some(value("--node-name")?),
            "--host-conf-dir" => o.host_conf_dir = value("--host-conf-dir")?.into(),
            "--resync" => {
                let v = value("--resync")?;
                o.resync_secs = v.parse().map_err(|_| format!("--resync {v:?} is not a number of seconds"))?;
            }
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
        assert_eq!((o.cluster_ipam_secret, o.node_name), (None, None));
        assert_eq!(o.host_conf_dir, PathBuf::from("/etc/cni/net.d"));
        assert_eq!(o.resync_secs, 60);
    }

    #[test]
    fn cluster_ipam_flags() {
        let parsed = run(&["--cluster-ipam-secret=/s", "--node-name", "n1", "--host-conf-dir", "/h", "--resync", "5"]);
        let Ok(Parsed::Run(o)) = parsed else { panic!("{parsed:?}") };
        assert_eq!(o.cluster_ipam_secret, Some(PathBuf::from("/s")));
        assert_eq!(o.node_name.as_deref(), Some("n1"));
        assert_eq!(o.host_conf_dir, PathBuf::from("/h"));
        assert_eq!(o.resync_secs, 5);
        assert_eq!(run(&["--resync", "soon"]), Err("--resync \"soon\" is not a number of seconds".to_string()));
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
