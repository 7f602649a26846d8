//! The parts of a network configuration that every plugin shares, and the
//! request a verb handler receives.

use crate::Error;
use crate::args::CniArgs;
use crate::env::Env;
use crate::gojson;
use crate::result::{CniResult, Dns};
use crate::version::Version;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Keys of a plugin configuration object that the protocol layer itself reads (SPEC.md §1).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NetConf {
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    pub name: String,
    #[serde(rename = "type")]
    pub plugin_type: String,
    pub ipam: Option<IpamRef>,
    pub dns: Dns,
    #[serde(rename = "runtimeConfig")]
    pub runtime_config: RuntimeConfig,
    pub args: ArgsBlock,
    #[serde(rename = "prevResult")]
    pub prev_result: Option<Value>,
    /// Where logs go instead of stderr (sriov-cni's key, accepted by every railcni plugin).
    #[serde(rename = "logFile")]
    pub log_file: String,
    /// `error`, `warn`, `info`, `debug` or `trace` (also `panic`/`fatal`, read as `error`).
    #[serde(rename = "logLevel")]
    pub log_level: String,
}

/// The `ipam` object as far as the delegating plugin cares: which binary to run.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct IpamRef {
    #[serde(rename = "type")]
    pub ipam_type: String,
}

/// Capability arguments injected by the runtime (CONVENTIONS.md).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RuntimeConfig {
    pub ips: Vec<String>,
    pub mac: Option<String>,
    #[serde(rename = "deviceID")]
    pub device_id: Option<String>,
}

/// The `args` convention: `args.cni.ips`, `args.cni.mac`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ArgsBlock {
    pub cni: CniArgsBlock,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CniArgsBlock {
    pub ips: Vec<String>,
    pub mac: Option<String>,
}

/// Everything a verb handler needs: the validated env, CNI_ARGS, the config.
#[derive(Debug, Clone)]
pub struct Request {
    pub env: Env,
    pub args: CniArgs,
    pub conf: NetConf,
    pub version: Version,
    /// The whole configuration object, for the plugin's own keys.
    pub raw: Value,
    /// stdin as received, passed unchanged to delegates.
    pub stdin: Vec<u8>,
}

impl Request {
    /// Decode the configuration into the plugin's own type (Go-style keys).
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, Error> {
        decode_conf(self.raw.clone(), "")
    }

    /// `prevResult`, converted to the current layout whatever its version.
    pub fn prev_result(&self) -> Result<Option<CniResult>, Error> {
        let Some(prev) = self.conf.prev_result.clone() else {
            return Ok(None);
        };
        CniResult::parse(prev, &self.version.to_string(), "prevResult")
            .map(Some)
            .map_err(|e| Error::config(e.path, e.msg))
    }

    /// An ADD result with the chain's `prevResult` (if any) in front of it:
    /// see [`CniResult::after`].
    pub fn chain(&self, result: CniResult) -> Result<CniResult, Error> {
        Ok(match self.prev_result()? {
            Some(prev) => result.after(prev),
            None => result,
        })
    }

    /// `prevResult`, which CHECK needs (code 7 naming it when absent).
    pub fn require_prev_result(&self) -> Result<CniResult, Error> {
        self.prev_result()?.ok_or_else(|| Error::config("prevResult", "CHECK needs the ADD result"))
    }

    /// The MAC the runtime asked for: `runtimeConfig.mac` over `args.cni.mac`
    /// over `CNI_ARGS MAC`, the reference bridge's precedence. Returns the
    /// value and the field it came from, for error messages.
    pub fn requested_mac(&self) -> Option<(String, &'static str)> {
        let rc = &self.conf.runtime_config;
        rc.mac
            .clone()
            .map(|m| (m, "runtimeConfig.mac"))
            .or_else(|| self.conf.args.cni.mac.clone().map(|m| (m, "args.cni.mac")))
            .or_else(|| self.args.get("MAC").map(|m| (m.to_string(), "CNI_ARGS MAC")))
    }
}

/// A link's `mtu` key: 0 means "leave it to the kernel" (a master's MTU,
/// or the kernel's default for a new bridge or veth).
pub fn link_mtu(mtu: i64) -> Result<Option<u32>, Error> {
    match mtu {
        0 => Ok(None),
        m if (68..=65535).contains(&m) => Ok(Some(m as u32)),
        m => Err(Error::config("mtu", format!("{m} is out of range (68-65535, or 0 for the kernel's choice)"))),
    }
}

/// A plugin's `dataDir`, or `default`: what DEL, GC and STATUS need of a
/// plugin with state files, read alone so they work whatever else the config says.
pub fn data_dir(req: &Request, default: &str) -> Result<std::path::PathBuf, Error> {
    #[derive(Default, Deserialize)]
    #[serde(default)]
    struct Dir {
        #[serde(rename = "dataDir")]
        data_dir: String,
    }
    let d: Dir = req.decode()?;
    Ok(std::path::PathBuf::from(if d.data_dir.is_empty() { default } else { &d.data_dir }))
}

/// `ipMasqBackend` (bridge, ptp): railcni always uses nftables, but refuses
/// what the reference refuses.
pub fn check_masq_backend(backend: &str) -> Result<(), Error> {
    if matches!(backend, "" | "iptables" | "nftables") {
        return Ok(());
    }
    Err(Error::config("ipMasqBackend", format!("{backend:?} must be \"iptables\" or \"nftables\"")))
}

/// Decode a config value, mapping type errors to code 7 naming the field.
pub fn decode_conf<T: DeserializeOwned>(value: Value, root: &str) -> Result<T, Error> {
    gojson::decode(value, root).map_err(|e| {
        let field = if e.path.is_empty() || e.path == "." { "config".to_string() } else { e.path };
        Error::config(field, e.msg)
    })
}

/// Parse stdin: bytes → JSON object (code 6 otherwise) → [`NetConf`] (code 7).
pub fn parse_stdin(stdin: &[u8]) -> Result<(Value, NetConf), Error> {
    let value: Value = serde_json::from_slice(stdin)
        .map_err(|e| Error::Decode { msg: format!("stdin: network configuration is not valid JSON: {e}") })?;
    if !value.is_object() {
        return Err(Error::Decode { msg: "stdin: network configuration must be a JSON object".into() });
    }
    let conf: NetConf = decode_conf(value.clone(), "")?;
    Ok((value, conf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undecodable_is_code_6_and_wrong_type_is_7() {
        assert_eq!(parse_stdin(b"{bad").unwrap_err().code(), 6);
        assert_eq!(parse_stdin(b"").unwrap_err().code(), 6);
        assert_eq!(parse_stdin(b"[1]").unwrap_err().code(), 6);
        let e = parse_stdin(br#"{"name": 5}"#).unwrap_err();
        assert_eq!(e.code(), 7);
        assert!(e.to_string().starts_with("name:"), "{e}");
        let e = parse_stdin(br#"{"runtimeConfig": {"ips": "10.0.0.1"}}"#).unwrap_err();
        assert!(e.to_string().starts_with("runtimeConfig.ips:"), "{e}");
    }

    #[test]
    fn go_spelling_is_accepted() {
        let (_, c) = parse_stdin(br#"{"CNIVersion": "1.0.0", "Name": "n", "IPAM": {"TYPE": "host-local"}}"#).unwrap();
        assert_eq!(c.cni_version, "1.0.0");
        assert_eq!(c.name, "n");
        assert_eq!(c.ipam.unwrap().ipam_type, "host-local");
    }

    fn request(conf: &str, cni_args: &str) -> Request {
        let (raw, conf) = parse_stdin(conf.as_bytes()).unwrap();
        let env = Env {
            command: crate::Command::Add,
            container_id: "c".into(),
            netns: "/x".into(),
            ifname: "eth0".into(),
            args: cni_args.into(),
            path: vec![],
        };
        let args = CniArgs::parse(cni_args, &["MAC"]).unwrap();
        Request { env, args, conf, version: Version::V1_0_0, raw, stdin: vec![] }
    }

    #[test]
    fn mac_precedence_is_runtime_config_then_args_then_cni_args() {
        let all = r#"{"runtimeConfig":{"mac":"02:00:00:00:00:03"},"args":{"cni":{"mac":"02:00:00:00:00:02"}}}"#;
        let r = request(all, "MAC=02:00:00:00:00:01");
        assert_eq!(r.requested_mac(), Some(("02:00:00:00:00:03".into(), "runtimeConfig.mac")));
        let r = request(r#"{"args":{"cni":{"mac":"02:00:00:00:00:02"}}}"#, "MAC=02:00:00:00:00:01");
        assert_eq!(r.requested_mac(), Some(("02:00:00:00:00:02".into(), "args.cni.mac")));
        let r = request("{}", "MAC=02:00:00:00:00:01");
        assert_eq!(r.requested_mac(), Some(("02:00:00:00:00:01".into(), "CNI_ARGS MAC")));
        assert_eq!(request("{}", "").requested_mac(), None);
    }

    #[test]
    fn prev_result_is_read_in_its_own_version() {
        let r = request(r#"{"cniVersion":"1.0.0","prevResult":{"cniVersion":"0.2.0","ip4":{"ip":"10.0.0.2/24"}}}"#, "");
        let prev = r.prev_result().unwrap().unwrap();
        assert_eq!(prev.ips[0].address.to_string(), "10.0.0.2/24");
        let r = request(r#"{"prevResult":{"ips":[{"address":"bad"}]}}"#, "");
        let e = r.prev_result().unwrap_err();
        assert!(e.to_string().starts_with("prevResult.ips[0].address"), "{e}");
    }
}
