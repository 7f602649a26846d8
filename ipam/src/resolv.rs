//! A resolv.conf reader for host-local's `resolvConf` (the reference's parseResolvConf).

use cni::result::Dns;
use std::path::Path;

pub fn parse(path: &Path) -> std::io::Result<Dns> {
    let text = std::fs::read_to_string(path)?;
    let mut dns = Dns::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let Some(key) = words.next() else { continue };
        let rest: Vec<String> = words.map(str::to_string).collect();
        match key {
            "nameserver" => dns.nameservers.extend(rest.into_iter().take(1)),
            "domain" => dns.domain = rest.into_iter().next().unwrap_or_default(),
            "search" => dns.search.extend(rest),
            "options" => dns.options.extend(rest),
            _ => {}
        }
    }
    Ok(dns)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_usual_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        std::fs::write(
            &path,
            "# c\nnameserver 10.0.0.53\nnameserver fd00::53\ndomain ex.com\nsearch a.ex b.ex\noptions ndots:2\n",
        )
        .unwrap();
        let dns = super::parse(&path).unwrap();
        assert_eq!(dns.nameservers, ["10.0.0.53", "fd00::53"]);
        assert_eq!(dns.domain, "ex.com");
        assert_eq!(dns.search, ["a.ex", "b.ex"]);
        assert_eq!(dns.options, ["ndots:2"]);
    }
}
