//! The IPAM config: whereabouts' keys plus railcni's, merged with the node's
//! settings file (`configuration_path`, whose keys are defaults), and
//! validated here, in one place, before anything touches etcd or the disk.

use crate::error::Error;
use crate::pool::{Network, Pool, SliceMode};
use cni::Request;
use cni::net::{parse_cidr, parse_ip, to_u128};
use cni::result::{Dns, Route};
use ipnetwork::IpNetwork;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_CONFIGURATION_PATH: &str = "/etc/cni/net.d/railcni.d/cluster-ipam.json";
pub const DEFAULT_STATE_DIR: &str = "/var/lib/cni/railcni/cluster-ipam";
/// Calico's default block: 64 addresses, so a node with a few pods per rail
/// holds one slice per rail, and a /16 still has 1,024 slices for nodes.
pub const DEFAULT_SLICE_V4: u8 = 26;
/// 256 addresses: a v6 range is never short of slices, and a slice still
/// lists in one small etcd range read.
pub const DEFAULT_SLICE_V6: u8 = 120;
/// A slice's addresses are listed and enumerated whole on the hot path.
const MAX_SLICE_BITS: u8 = 16;
/// Slice numbers are u64; a cold node scans from a hashed start and stops at the first free one.
const MAX_SLICE_COUNT_BITS: u8 = 62;
const DEFAULT_TIMEOUT_SECS: f64 = 5.0;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Net {
    ipam: Option<Value>,
}

/// The `ipam` object as written (after the settings file filled the gaps).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IpamConf {
    range: String,
    range_start: String,
    range_end: String,
    exclude: Vec<String>,
    gateway: String,
    #[serde(rename = "ipRanges")]
    ip_ranges: Vec<RangeConf>,
    network_name: String,
    enable_overlapping_ranges: Option<bool>,
    node_slice_size: String,
    routes: Vec<Route>,
    dns: Dns,
    configuration_path: String,
    node_name: String,
    etcd_endpoints: Vec<String>,
    etcd_ca_cert_file: String,
    etcd_cert_file: String,
    etcd_key_file: String,
    etcd_username: String,
    etcd_password_file: String,
    /// Seconds one verb may spend waiting for etcd.
    timeout: Option<f64>,
    /// Take a free address from another node's slice when no slice is left.
    allow_borrowing: bool,
    /// nv-ipam's CIDRPool: each slice is its own subnet with its own gateway.
    routed: bool,
    /// Routed mode: the gateway's offset inside each slice.
    gateway_index: Option<u64>,
    /// Where the node keeps its slice cache and DEL journal.
    state_dir: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RangeConf {
    range: String,
    range_start: String,
    range_end: String,
    exclude: Vec<String>,
}

/// How to reach etcd. The password is read from its file, never from the NAD.
#[derive(Clone)]
pub struct EtcdSettings {
    pub endpoints: Vec<String>,
    pub ca_cert_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
}

/// Deliberately prints no credential: a `{:?}` in a log must be safe.
impl std::fmt::Debug for EtcdSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdSettings").field("endpoints", &self.endpoints).finish_non_exhaustive()
    }
}

/// The etcd keys as written, in the `ipam` object or the settings file.
#[derive(Debug, Default)]
pub(crate) struct EtcdConf {
    pub endpoints: Vec<String>,
    pub ca_cert_file: String,
    pub cert_file: String,
    pub key_file: String,
    pub username: String,
    pub password_file: String,
}

/// Everything a verb needs, validated.
#[derive(Debug)]
pub struct Config {
    pub node: String,
    pub etcd: EtcdSettings,
    pub timeout: Duration,
    pub state_dir: PathBuf,
    pub network: Network,
    pub allow_borrowing: bool,
    pub routes: Vec<Route>,
    pub dns: Dns,
}

/// Decode and validate the request's `ipam` object.
pub fn load(req: &Request) -> Result<Config, Error> {
    let net: Net = req.decode()?;
    let Some(Value::Object(ipam)) = net.ipam else {
        return Err(Error::config("ipam", "missing, or not an object"));
    };
    let merged = merge_settings(ipam)?;
    let conf: IpamConf = cni::config::decode_conf(Value::Object(merged), "ipam")?;
    validate(conf)
}

/// The settings file's keys fill in what the `ipam` object leaves out
/// (matched the Go way, ignoring case). A missing file at the default path
/// is fine; a missing file the config names is an error.
fn merge_settings(mut ipam: Map<String, Value>) -> Result<Map<String, Value>, Error> {
    let named = ipam.iter().find(|(k, _)| k.eq_ignore_ascii_case("configuration_path")).map(|(_, v)| v.clone());
    let (path, explicit) = match named {
        None | Some(Value::Null) => (DEFAULT_CONFIGURATION_PATH.to_string(), false),
        Some(Value::String(p)) if !p.is_empty() => (p, true),
        Some(_) => return Err(Error::config("ipam.configuration_path", "must be a non-empty string")),
    };
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(ipam),
        Err(e) => return Err(Error::config("ipam.configuration_path", format!("{path}: {e}"))),
    };
    // It names the credential files and may hold the etcd user: the node's alone.
    private_file("ipam.configuration_path", std::path::Path::new(&path))?;
    let file: Map<String, Value> = serde_json::from_slice(&text)
        .map_err(|e| Error::config("ipam.configuration_path", format!("{path}: not a JSON object: {e}")))?;
    for (k, v) in file {
        if !ipam.keys().any(|have| have.eq_ignore_ascii_case(&k)) {
            ipam.insert(k, v);
        }
    }
    Ok(ipam)
}

fn validate(c: IpamConf) -> Result<Config, Error> {
    let network_name = c.network_name.clone();
    if !network_name.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch)) {
        return Err(Error::config("ipam.network_name", "may hold only letters, digits, '-', '_' and '.'"));
    }
    let node = node_name(&c.node_name)?;
    let timeout = c.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS);
    if !(timeout > 0.0 && timeout <= 300.0) {
        return Err(Error::config("ipam.timeout", "must be a number of seconds in (0, 300]"));
    }
    let mode = match (c.routed, c.gateway_index) {
        (false, None) => SliceMode::Flat,
        (false, Some(_)) => return Err(Error::config("ipam.gateway_index", "only applies with \"routed\": true")),
        (true, index) => SliceMode::Routed { gateway_index: index.unwrap_or(1) as u128 },
    };
    if c.routed && !c.gateway.is_empty() {
        return Err(Error::config("ipam.gateway", "routed mode puts a gateway in each slice (gateway_index)"));
    }
    let mut confs: Vec<(String, RangeConf)> = Vec::new();
    if !c.range.is_empty() {
        let top = RangeConf {
            range: c.range.clone(),
            range_start: c.range_start.clone(),
            range_end: c.range_end.clone(),
            exclude: c.exclude.clone(),
        };
        confs.push(("ipam".into(), top));
    } else if !c.range_start.is_empty() || !c.range_end.is_empty() {
        return Err(Error::config("ipam.range", "missing, but range_start or range_end is set"));
    }
    for (i, r) in c.ip_ranges.into_iter().enumerate() {
        confs.push((format!("ipam.ipRanges[{i}]"), r));
    }
    if confs.is_empty() {
        return Err(Error::config("ipam.range", "missing (give range or ipRanges)"));
    }
    let gateway = match c.gateway.as_str() {
        "" => None,
        raw => {
            Some(parse_ip(raw).ok_or_else(|| Error::config("ipam.gateway", format!("{raw:?} is not an IP address")))?)
        }
    };
    let mut pools = Vec::new();
    for (at, r) in &confs {
        pools.push(pool(at, r, &c.node_slice_size, gateway, mode)?);
    }
    if let Some(gw) = gateway
        && !pools.iter().any(|p| p.cidr.contains(gw))
    {
        return Err(Error::config("ipam.gateway", format!("{gw} is in none of the ranges")));
    }
    for (i, a) in pools.iter().enumerate() {
        for (j, b) in pools.iter().enumerate().skip(i + 1) {
            if a.cidr.contains(b.cidr.network()) || b.cidr.contains(a.cidr.network()) {
                return Err(Error::config(
                    format!("{}.range", confs[j].0),
                    format!("{} overlaps {} of {}", b.cidr, a.cidr, confs[i].0),
                ));
            }
        }
    }
    let etcd = etcd_settings(EtcdConf {
        endpoints: c.etcd_endpoints,
        ca_cert_file: c.etcd_ca_cert_file,
        cert_file: c.etcd_cert_file,
        key_file: c.etcd_key_file,
        username: c.etcd_username,
        password_file: c.etcd_password_file,
    })?;
    let network = Network {
        id: network_id(&network_name, &pools),
        name: network_name,
        overlapping: c.enable_overlapping_ranges.unwrap_or(true),
        mode,
        gateway,
        pools,
    };
    Ok(Config {
        node,
        etcd,
        timeout: Duration::from_secs_f64(timeout),
        state_dir: PathBuf::from(if c.state_dir.is_empty() { DEFAULT_STATE_DIR.to_string() } else { c.state_dir }),
        network,
        allow_borrowing: c.allow_borrowing,
        routes: c.routes,
        dns: c.dns,
    })
}

/// The node's name: as configured, else the host name; it is part of etcd keys.
pub(crate) fn node_name(raw: &str) -> Result<String, Error> {
    let node = match raw {
        "" => hostname()?,
        n => n.to_string(),
    };
    if node.is_empty() || !node.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch)) {
        return Err(Error::config("ipam.node_name", format!("{node:?} is not a valid node name")));
    }
    Ok(node)
}

/// Endpoints and credentials, validated; the credential files must be private to their owner.
pub(crate) fn etcd_settings(c: EtcdConf) -> Result<EtcdSettings, Error> {
    if c.endpoints.is_empty() {
        return Err(Error::config(
            "ipam.etcd_endpoints",
            "missing: set it in the ipam object or in the configuration_path file",
        ));
    }
    for (i, e) in c.endpoints.iter().enumerate() {
        if !(e.starts_with("http://") || e.starts_with("https://")) {
            return Err(Error::config(format!("ipam.etcd_endpoints[{i}]"), "must be an http:// or https:// URL"));
        }
    }
    let file = |field: &str, v: &str| -> Result<Option<PathBuf>, Error> {
        match v {
            "" => Ok(None),
            p if std::path::Path::new(p).is_file() => Ok(Some(PathBuf::from(p))),
            p => Err(Error::config(format!("ipam.{field}"), format!("{p}: no such file"))),
        }
    };
    let etcd = EtcdSettings {
        endpoints: c.endpoints,
        ca_cert_file: file("etcd_ca_cert_file", &c.ca_cert_file)?,
        cert_file: file("etcd_cert_file", &c.cert_file)?,
        key_file: file("etcd_key_file", &c.key_file)?,
        username: Some(c.username).filter(|u| !u.is_empty()),
        password_file: file("etcd_password_file", &c.password_file)?,
    };
    if etcd.cert_file.is_some() != etcd.key_file.is_some() {
        return Err(Error::config("ipam.etcd_key_file", "etcd_cert_file and etcd_key_file go together"));
    }
    if etcd.username.is_some() != etcd.password_file.is_some() {
        return Err(Error::config("ipam.etcd_password_file", "etcd_username and etcd_password_file go together"));
    }
    if let Some(p) = &etcd.key_file {
        private_file("ipam.etcd_key_file", p)?;
        pem_file("ipam.etcd_key_file", p, "private key", |p| PrivateKeyDer::from_pem_file(p).map(drop))?;
    }
    for (field, file) in [("ipam.etcd_ca_cert_file", &etcd.ca_cert_file), ("ipam.etcd_cert_file", &etcd.cert_file)] {
        if let Some(p) = file {
            pem_file(field, p, "certificate", |p| CertificateDer::from_pem_file(p).map(drop))?;
        }
    }
    if let Some(p) = &etcd.password_file {
        private_file("ipam.etcd_password_file", p)?;
    }
    Ok(etcd)
}

/// A TLS file that is not PEM fails here, code 7 naming it, rather than as
/// a connection that never comes up. The parser's message is left out: it
/// may quote a line of the file, and that could be key material.
fn pem_file(
    field: &str,
    path: &std::path::Path,
    what: &str,
    parse: impl Fn(&std::path::Path) -> Result<(), rustls_pki_types::pem::Error>,
) -> Result<(), Error> {
    parse(path).map_err(|_| Error::config(field, format!("{}: not a PEM {what}", path.display())))
}

/// A file holding a credential (or naming one) must not be readable by the
/// group or others: code 7 naming the file and its mode, before any use.
pub(crate) fn private_file(field: &str, path: &std::path::Path) -> Result<(), Error> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|e| Error::config(field, format!("{}: {e}", path.display())))?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(Error::config(
            field,
            format!("{}: mode {mode:04o} lets the group or others read it; make it 0600 (chmod 600)", path.display()),
        ));
    }
    Ok(())
}

/// The pool's identity in etcd: `network_name`, or else its ranges, so
/// that two NADs with one CIDR and no name share one pool, as in whereabouts.
fn network_id(name: &str, pools: &[Pool]) -> String {
    if !name.is_empty() {
        return name.to_string();
    }
    let parts: Vec<String> = pools.iter().map(|p| p.key()).collect();
    format!("range-{}", parts.join(","))
}

/// One range: `range` (a network, or whereabouts' `"first-last/prefix"`),
/// bounds, exclusions and the slice size.
fn pool(at: &str, r: &RangeConf, slice: &str, gateway: Option<IpAddr>, mode: SliceMode) -> Result<Pool, Error> {
    let field = |name: &str| format!("{at}.{name}");
    // whereabouts' "first-last/prefix" form: the bounds, and the network they lie in.
    let (subnet, start_raw, end_raw) = match r.range.split_once('-') {
        Some((first, rest)) => {
            let (last, prefix) = rest
                .split_once('/')
                .ok_or_else(|| Error::config(field("range"), "the first-last form needs a /prefix"))?;
            if !(r.range_start.is_empty() && r.range_end.is_empty()) {
                return Err(Error::config(field("range_start"), "the first-last range form already sets it"));
            }
            let net = parse_cidr(&format!("{last}/{prefix}")).ok_or_else(|| {
                Error::config(field("range"), format!("{:?} is not a first-last/prefix range", r.range))
            })?;
            (format!("{}/{}", net.network(), net.prefix()), first.to_string(), last.to_string())
        }
        None => (r.range.clone(), r.range_start.clone(), r.range_end.clone()),
    };
    // host-local's range rules (a network, not too small, bounds inside it), under whereabouts' key names.
    let checked = ipam::range::RangeConf { subnet, range_start: start_raw, range_end: end_raw, gateway: String::new() }
        .canonicalize(at)
        .map_err(whereabouts_names)?;
    let cidr = checked.subnet;
    let (start, end) = (to_u128(checked.start), to_u128(checked.end));
    let bits: u8 = if cidr.is_ipv4() { 32 } else { 128 };
    let mut exclude = Vec::new();
    for (i, raw) in r.exclude.iter().enumerate() {
        let ex = parse_cidr(raw)
            .or_else(|| parse_ip(raw).map(IpNetwork::from))
            .ok_or_else(|| Error::config(format!("{at}.exclude[{i}]"), format!("{raw:?} is not a CIDR")))?;
        if ex.is_ipv4() != cidr.is_ipv4() {
            return Err(Error::config(format!("{at}.exclude[{i}]"), "is not of the range's address family"));
        }
        exclude.push((to_u128(ex.network()), to_u128(ex.broadcast())));
    }
    let slice_prefix = match slice.trim_start_matches('/') {
        "" => cidr.prefix().max(if cidr.is_ipv4() { DEFAULT_SLICE_V4 } else { DEFAULT_SLICE_V6 }),
        raw => raw.parse::<u8>().ok().filter(|p| *p <= bits).ok_or_else(|| {
            Error::config("ipam.node_slice_size", format!("{slice:?} is not a prefix such as \"/26\""))
        })?,
    };
    if slice_prefix < cidr.prefix() {
        return Err(Error::config("ipam.node_slice_size", format!("/{slice_prefix} is larger than {at} {cidr}")));
    }
    if slice_prefix < bits - MAX_SLICE_BITS {
        return Err(Error::config(
            "ipam.node_slice_size",
            format!("/{slice_prefix} holds more than {} addresses", 1u32 << MAX_SLICE_BITS),
        ));
    }
    if slice_prefix - cidr.prefix() > MAX_SLICE_COUNT_BITS {
        return Err(Error::config("ipam.node_slice_size", format!("/{slice_prefix} cuts {cidr} into too many slices")));
    }
    if let SliceMode::Routed { gateway_index } = mode {
        let size = 1u128 << (bits - slice_prefix);
        if slice_prefix > bits - 2 || gateway_index == 0 || gateway_index >= size - u128::from(cidr.is_ipv4()) {
            return Err(Error::config(
                "ipam.gateway_index",
                format!("{gateway_index} is not a host in a /{slice_prefix}"),
            ));
        }
    }
    let gateway = gateway.filter(|g| cidr.contains(*g)).map(to_u128);
    Ok(Pool { cidr, start, end, exclude, slice_prefix, gateway })
}

/// host-local's field names in a range error, as whereabouts spells them.
fn whereabouts_names(e: cni::Error) -> Error {
    let cni::Error::InvalidConfig { field, msg } = e else { return Error::from(e) };
    let field = [(".subnet", ".range"), (".rangeStart", ".range_start"), (".rangeEnd", ".range_end")]
        .iter()
        .find_map(|(host_local, ours)| field.strip_suffix(host_local).map(|at| format!("{at}{ours}")))
        .unwrap_or(field);
    Error::Config { field, msg }
}

fn hostname() -> Result<String, Error> {
    // The kernel's UTS name, as Go's os.Hostname reads it.
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").map_err(|e| Error::io("hostname", e))?;
    Ok(h.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cni::env::Env;
    use cni::version::Version;

    fn request(ipam: Value) -> Request {
        let stdin = serde_json::to_vec(&serde_json::json!({"cniVersion": "1.1.0", "name": "n", "ipam": ipam})).unwrap();
        let (raw, conf) = cni::config::parse_stdin(&stdin).unwrap();
        let env = Env {
            command: cni::Command::Add,
            container_id: "c".into(),
            netns: "/x".into(),
            ifname: "net1".into(),
            args: String::new(),
            path: vec![],
        };
        let args = cni::args::CniArgs::parse("", &[]).unwrap();
        Request { env, args, conf, version: Version::V1_1_0, raw, stdin }
    }

    fn with_settings(ipam: Value, settings: Value) -> Result<Config, Error> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(&path, settings.to_string()).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let mut ipam = ipam;
        ipam["configuration_path"] = serde_json::json!(path);
        load(&request(ipam))
    }

    #[test]
    fn settings_file_keys_are_defaults_and_the_nad_wins_ignoring_case() {
        let settings = serde_json::json!({"node_name": "from-file", "etcd_endpoints": ["http://10.0.0.1:2379"],
            "Timeout": 9});
        let c = with_settings(serde_json::json!({"range": "10.0.0.0/24", "TIMEOUT": 2}), settings).unwrap();
        assert_eq!(c.node, "from-file");
        assert_eq!(c.etcd.endpoints, vec!["http://10.0.0.1:2379".to_string()]);
        assert_eq!(c.timeout, Duration::from_secs(2));
        assert_eq!(c.network.id, "range-10.0.0.0_24");
        // The debug form names no credential.
        assert!(!format!("{:?}", c.etcd).contains("password"));
    }

    #[test]
    fn whereabouts_first_last_form_and_defaults() {
        let settings = serde_json::json!({"node_name": "a", "etcd_endpoints": ["http://10.0.0.1:2379"]});
        let c =
            with_settings(serde_json::json!({"range": "192.168.2.225-192.168.2.230/28"}), settings.clone()).unwrap();
        let p = &c.network.pools[0];
        assert_eq!(p.cidr.to_string(), "192.168.2.224/28");
        assert_eq!(
            (p.start, p.end),
            (to_u128("192.168.2.225".parse().unwrap()), to_u128("192.168.2.230".parse().unwrap()))
        );
        assert_eq!(p.slice_prefix, 28, "a range smaller than the default slice is one slice");
        assert!(c.network.overlapping, "enable_overlapping_ranges defaults to true");
        let c = with_settings(serde_json::json!({"range": "fd00::/64"}), settings.clone()).unwrap();
        assert_eq!(c.network.pools[0].slice_prefix, DEFAULT_SLICE_V6);
        let e =
            with_settings(serde_json::json!({"range": "10.0.0.0/24", "routed": true, "gateway": "10.0.0.1"}), settings)
                .unwrap_err();
        assert!(matches!(e, Error::Config { ref field, .. } if field == "ipam.gateway"), "{e:?}");
    }
}
