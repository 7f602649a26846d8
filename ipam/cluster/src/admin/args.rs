//! The command line, parsed by hand: a handful of flags and one command.

use std::path::PathBuf;

pub const USAGE: &str = "\
railcni-ipam: operate cluster-ipam's store in etcd

usage: railcni-ipam [--config PATH] [--json] COMMAND [ARGS]

  --config PATH   the node settings file: etcd endpoints, TLS and auth, node_name,
                  node_grace_seconds (default /etc/cni/net.d/railcni.d/cluster-ipam.json)
  --json          print a JSON document for scripts instead of text

commands:
  list                 networks; slices with their owner node; allocations with
                       pod, container and interface
  check                verify the store: no address in two records, every record in a
                       slice owned by its node, no slice claimed twice, every record
                       with its node's index entry. Exit 1 with the findings.
  release-node NODE    free every allocation and slice of a decommissioned node.
                       Refused while NODE's heartbeat is alive, unless --force.
  gc --live FILE|-     free allocations whose pod is not in the live list (FILE, or
                       stdin for -). One entry a line: a container ID, or a pod as
                       NAMESPACE/NAME; an allocation is kept if either its container
                       ID or its pod is listed. Blank lines and lines starting with #
                       are skipped. An empty list is refused. --node NODE limits it to
                       one node's allocations. Make the list right before: an
                       allocation made after it, for a pod not in it, is freed.
                       e.g. kubectl get pods -A --no-headers \\
                              -o custom-columns=NS:.metadata.namespace,N:.metadata.name \\
                              | tr -s ' ' / | railcni-ipam gc --live -
  heartbeat            run forever, keeping this node alive in etcd under a lease of
                       node_grace_seconds (default 600). When it lapses, other nodes
                       may take back this node's empty slices.

exit status: 0 done, 1 check found problems, 2 bad usage, 3 configuration or etcd error
";

#[derive(Debug, PartialEq)]
pub enum Command {
    List,
    Check,
    ReleaseNode { node: String, force: bool },
    Gc { live: String, node: Option<String> },
    Heartbeat,
    Help,
}

#[derive(Debug)]
pub struct Args {
    pub config: PathBuf,
    pub json: bool,
    pub command: Command,
}

pub fn parse(argv: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut config = PathBuf::from(crate::config::DEFAULT_CONFIGURATION_PATH);
    let (mut json, mut force, mut help) = (false, false, false);
    let (mut live, mut node) = (None, None);
    let mut words = Vec::new();
    let mut it = argv.into_iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value = |name: &str| inline.clone().or_else(|| it.next()).ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "--config" => config = PathBuf::from(value("--config")?),
            "--live" => live = Some(value("--live")?),
            "--node" => node = Some(value("--node")?),
            "--json" => json = true,
            "--force" => force = true,
            "-h" | "--help" => help = true,
            f if f.starts_with('-') && f != "-" => return Err(format!("unknown option {f}")),
            _ => words.push(a),
        }
    }
    let mut words = words.into_iter();
    let command = match (help, words.next().as_deref()) {
        (true, _) | (false, Some("help")) => Command::Help,
        (false, None) => return Err("no command given".into()),
        (false, Some("list")) => Command::List,
        (false, Some("check")) => Command::Check,
        (false, Some("heartbeat")) => Command::Heartbeat,
        (false, Some("release-node")) => {
            let node = words.next().ok_or("release-node needs the NODE to release")?;
            Command::ReleaseNode { node, force }
        }
        (false, Some("gc")) => Command::Gc { live: live.ok_or("gc needs --live FILE (or - for stdin)")?, node },
        (false, Some(other)) => return Err(format!("unknown command {other:?}")),
    };
    if let Some(extra) = words.next() {
        return Err(format!("unexpected argument {extra:?}"));
    }
    Ok(Args { config, json, command })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Args, String> {
        parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn flags_anywhere_and_values_inline_or_apart() {
        let a = p("--config /x.json heartbeat").unwrap();
        assert_eq!((a.config, a.command), (PathBuf::from("/x.json"), Command::Heartbeat));
        let a = p("gc --json --live=- --node n1").unwrap();
        assert!(a.json);
        assert_eq!(a.command, Command::Gc { live: "-".into(), node: Some("n1".into()) });
        assert_eq!(
            p("release-node n2 --force").unwrap().command,
            Command::ReleaseNode { node: "n2".into(), force: true }
        );
        assert!(p("release-node").is_err());
        assert!(p("gc").is_err());
        assert!(p("list extra").is_err());
        assert!(p("--bogus list").is_err());
        assert!(p("").is_err());
        assert_eq!(p("list --help").unwrap().command, Command::Help);
    }
}
