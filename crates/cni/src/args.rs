//! `CNI_ARGS`: `K1=V1;K2=V2`, with unknown keys refused unless `IgnoreUnknown` is set.

use crate::Error;

/// The parsed pairs of `CNI_ARGS`, in order.
#[derive(Debug, Clone, Default)]
pub struct CniArgs {
    pairs: Vec<(String, String)>,
}

impl CniArgs {
    /// Parse `raw`, accepting only `known` keys (matched exactly, as Go's
    /// `types.LoadArgs` does) unless `IgnoreUnknown=1|true` is present.
    pub fn parse(raw: &str, known: &[&str]) -> Result<CniArgs, Error> {
        let mut pairs = Vec::new();
        for pair in raw.split(';').filter(|p| !p.is_empty()) {
            let Some((k, v)) = pair.split_once('=') else {
                return Err(Error::env("CNI_ARGS", format!("invalid pair {pair:?}; expected KEY=VALUE")));
            };
            if v.contains('=') {
                return Err(Error::env("CNI_ARGS", format!("invalid pair {pair:?}; a value must not contain '='")));
            }
            pairs.push((k.to_string(), v.to_string()));
        }
        let args = CniArgs { pairs };
        let ignore_unknown = match args.get("IgnoreUnknown") {
            None => false,
            Some(v) => parse_bool(v).ok_or_else(|| {
                Error::env("CNI_ARGS", format!("IgnoreUnknown={v:?} is not a boolean (1, true, 0, false)"))
            })?,
        };
        if !ignore_unknown {
            let unknown: Vec<&str> = args
                .pairs
                .iter()
                .map(|(k, _)| k.as_str())
                .filter(|k| *k != "IgnoreUnknown" && !known.contains(k))
                .collect();
            if !unknown.is_empty() {
                return Err(Error::env(
                    "CNI_ARGS",
                    format!("unknown keys {unknown:?}; set IgnoreUnknown=1 to allow them"),
                ));
            }
        }
        Ok(args)
    }

    /// The last value given for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys_parse() {
        let a = CniArgs::parse("IP=10.0.0.5;MAC=aa:bb:cc:dd:ee:ff", &["IP", "MAC"]).unwrap();
        assert_eq!(a.get("IP"), Some("10.0.0.5"));
        assert_eq!(a.get("GATEWAY"), None);
    }

    #[test]
    fn unknown_keys_need_ignore_unknown() {
        let kubelet = "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p";
        assert!(CniArgs::parse(kubelet, &["IP"]).is_ok());
        assert!(CniArgs::parse("IgnoreUnknown=true;X=1", &[]).is_ok());
        let e = CniArgs::parse("K8S_POD_NAME=p", &["IP"]).unwrap_err();
        assert_eq!(e.code(), 4);
        assert!(e.to_string().contains("K8S_POD_NAME"));
        assert!(CniArgs::parse("IgnoreUnknown=0;X=1", &[]).is_err());
        assert!(CniArgs::parse("IgnoreUnknown=maybe", &[]).is_err());
    }

    #[test]
    fn malformed_pairs_are_refused() {
        assert!(CniArgs::parse("FOO", &["FOO"]).is_err());
        assert!(CniArgs::parse("A=b=c", &["A"]).is_err());
        assert!(CniArgs::parse("", &[]).is_ok());
    }
}
