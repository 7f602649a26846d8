//! cluster-ipam's node settings, rendered from a mounted Kubernetes Secret.
//!
//! The plugin runs on the host, where the pod's Secret mount does not
//! exist, so the credentials are copied into the host's CNI config dir
//! (`railcni.d/etcd/`) and `railcni.d/cluster-ipam.json` names them by their
//! host paths. Every file is mode 0600 (cluster-ipam refuses credentials
//! others can read), written atomically, and left alone when unchanged.
//! Nothing is written until the whole Secret has been read and checked.
//! No credential's content is ever printed: errors name keys and paths.

use crate::place::{Placed, place_bytes, remove_owned, sync_dir};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::fs::{self, Permissions};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Inside the CNI config dir; a runtime does not read subdirectories.
pub const SETTINGS_DIR: &str = "railcni.d";
/// cluster-ipam's default `configuration_path` is `/etc/cni/net.d/railcni.d/cluster-ipam.json`.
pub const SETTINGS_FILE: &str = "cluster-ipam.json";
/// Inside [`SETTINGS_DIR`].
pub const CREDENTIALS_DIR: &str = "etcd";
const MODE: u32 = 0o600;
const CREDENTIALS_DIR_MODE: u32 = 0o700;
const SETTINGS_DIR_MODE: u32 = 0o755;

/// The Secret keys copied to the node as files, each with the settings key
/// that names it. The file keeps the key's name.
const CREDENTIALS: [(&str, &str); 4] = [
    ("ca.crt", "etcd_ca_cert_file"),
    ("tls.crt", "etcd_cert_file"),
    ("tls.key", "etcd_key_file"),
    ("password", "etcd_password_file"),
];
const ENDPOINTS: &str = "endpoints";
const USERNAME: &str = "username";
const GRACE: &str = "node-grace-seconds";

/// What goes onto the node. Its debug form shows names only.
pub struct Rendered {
    /// (file name in the credentials dir, content).
    credentials: Vec<(&'static str, Vec<u8>)>,
    settings: Vec<u8>,
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.credentials.iter().map(|(n, _)| *n).collect();
        f.debug_struct("Rendered").field("credentials", &names).finish_non_exhaustive()
    }
}

/// Reads and checks the Secret mounted at `secret`; `host_conf_dir` is the
/// CNI config dir as the node (and so the plugin) sees it.
pub fn render(secret: &Path, node: Option<&str>, host_conf_dir: &Path) -> Result<Rendered, String> {
    let node = check_node(node)?;
    let keys = read_secret(secret)?;
    let bad = |key: &str, msg: &str| format!("{}: key {key:?}: {msg}", secret.display());
    let text = |key: &str| -> Result<Option<String>, String> {
        keys.get(key)
            .map(|b| String::from_utf8(b.clone()).map_err(|_| bad(key, "not UTF-8 text")))
            .transpose()
            .map(|t| t.map(|t| t.trim().to_string()))
    };

    let endpoints: Vec<String> = text(ENDPOINTS)?
        .ok_or_else(|| bad(ENDPOINTS, "missing (the etcd client URLs, comma-separated)"))?
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|e| !e.is_empty())
        .map(String::from)
        .collect();
    if endpoints.is_empty() {
        return Err(bad(ENDPOINTS, "empty"));
    }
    if let Some(e) = endpoints.iter().find(|e| !(e.starts_with("http://") || e.starts_with("https://"))) {
        return Err(bad(ENDPOINTS, &format!("{e:?} is not an http:// or https:// URL")));
    }
    for (key, _) in CREDENTIALS {
        if keys.get(key).is_some_and(|b| b.iter().all(u8::is_ascii_whitespace)) {
            return Err(bad(key, "empty"));
        }
    }
    if endpoints.iter().any(|e| e.starts_with("https://")) && !keys.contains_key("ca.crt") {
        return Err(bad("ca.crt", "missing (the CA that signed etcd's certificate; the endpoints are https://)"));
    }
    pair(&keys, "tls.crt", "tls.key").map_err(|(k, other)| bad(k, &format!("missing ({other} is set)")))?;
    pair(&keys, USERNAME, "password").map_err(|(k, other)| bad(k, &format!("missing ({other} is set)")))?;
    let username = text(USERNAME)?;
    if username.as_deref().is_some_and(|u| u.is_empty() || u.chars().any(char::is_control)) {
        return Err(bad(USERNAME, "empty, or more than one line"));
    }
    let grace = match text(GRACE)? {
        None => None,
        Some(g) => Some(g.parse::<u64>().ok().filter(|g| *g > 0).ok_or_else(|| bad(GRACE, "not a positive number"))?),
    };

    let host_dir = host_conf_dir.join(SETTINGS_DIR).join(CREDENTIALS_DIR);
    let mut settings = Map::new();
    settings.insert("etcd_endpoints".into(), json!(endpoints));
    let mut credentials = Vec::new();
    for (key, field) in CREDENTIALS {
        if let Some(bytes) = keys.get(key) {
            settings.insert(field.into(), json!(host_dir.join(key)));
            credentials.push((key, bytes.clone()));
        }
    }
    if let Some(u) = username {
        settings.insert("etcd_username".into(), json!(u));
    }
    settings.insert("node_name".into(), json!(node));
    if let Some(g) = grace {
        settings.insert("node_grace_seconds".into(), json!(g));
    }
    let mut settings = serde_json::to_vec_pretty(&Value::Object(settings)).map_err(|e| e.to_string())?;
    settings.push(b'\n');
    Ok(Rendered { credentials, settings })
}

/// Writes what `render` made into `conf_dir` (the node's CNI config dir as
/// mounted here): the credentials first, so the settings never name a file
/// that is not there yet; then the settings; then credentials the Secret no
/// longer has. Returns the paths written; `log_unchanged` also logs the rest.
pub fn install(r: &Rendered, conf_dir: &Path, log_unchanged: bool) -> Result<Vec<PathBuf>, String> {
    let dir = conf_dir.join(SETTINGS_DIR);
    let creds = dir.join(CREDENTIALS_DIR);
    mkdir(&dir, SETTINGS_DIR_MODE)?;
    mkdir(&creds, CREDENTIALS_DIR_MODE)?;
    let mut written = Vec::new();
    let mut put = |dir: &Path, name: &str, bytes: &[u8]| -> Result<(), String> {
        let path = dir.join(name);
        let placed = place_bytes(bytes, dir, name, MODE).map_err(|e| at(&path, e))?;
        if placed == Placed::Written {
            eprintln!("railcni-install: installed {}", path.display());
            written.push(path);
        } else if log_unchanged {
            eprintln!("railcni-install: unchanged {}", path.display());
        }
        Ok(())
    };
    for (name, bytes) in &r.credentials {
        put(&creds, name, bytes)?;
    }
    put(&dir, SETTINGS_FILE, &r.settings)?;
    for (name, _) in CREDENTIALS {
        if !r.credentials.iter().any(|(n, _)| *n == name) && remove_owned(&creds, name).map_err(|e| at(&creds, e))? {
            eprintln!("railcni-install: removed {} (no longer in the Secret)", creds.join(name).display());
        }
    }
    Ok(written)
}

/// Removes the settings (first: no config then names a missing file), the
/// credentials, and the two directories once empty.
pub fn uninstall(conf_dir: &Path) -> Result<(), String> {
    let dir = conf_dir.join(SETTINGS_DIR);
    let creds = dir.join(CREDENTIALS_DIR);
    let gone = |dir: &Path, name: &str| -> Result<(), String> {
        let path = dir.join(name);
        let what = if remove_owned(dir, name).map_err(|e| at(&path, e))? { "removed" } else { "left (absent)" };
        eprintln!("railcni-install: {what} {}", path.display());
        Ok(())
    };
    gone(&dir, SETTINGS_FILE)?;
    for (name, _) in CREDENTIALS {
        gone(&creds, name)?;
    }
    for d in [&creds, &dir] {
        match fs::remove_dir(d) {
            Ok(()) => eprintln!("railcni-install: removed {}", d.display()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            // Something else lives there now: not ours to remove.
            Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => {
                eprintln!("railcni-install: left {} (not empty)", d.display())
            }
            Err(e) => return Err(at(d, e)),
        }
    }
    Ok(())
}

/// The node name cluster-ipam will use, checked by cluster-ipam's rule.
fn check_node(node: Option<&str>) -> Result<&str, String> {
    let node = node
        .filter(|n| !n.is_empty())
        .ok_or("the node name is not set: set NODE_NAME (the DaemonSet sets it from spec.nodeName) or --node-name")?;
    if !node.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(format!("node name {node:?} holds more than letters, digits, '-', '_' and '.'"));
    }
    Ok(node)
}

/// The Secret's keys and values. A Secret volume holds one file (a symlink
/// into `..data/`) per key and hidden `..` entries; a key this does not know
/// is an error, so a typo (`tls.cert`) does not silently drop a credential.
fn read_secret(secret: &Path) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let known: Vec<&str> = CREDENTIALS.iter().map(|(k, _)| *k).chain([ENDPOINTS, USERNAME, GRACE]).collect();
    let mut keys = BTreeMap::new();
    for entry in fs::read_dir(secret).map_err(|e| at(secret, e))? {
        let entry = entry.map_err(|e| at(secret, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if !known.contains(&name.as_str()) {
            return Err(format!("{}: unknown key {name:?} (known: {})", secret.display(), known.join(", ")));
        }
        let path = entry.path();
        if !fs::metadata(&path).map_err(|e| at(&path, e))?.is_file() {
            return Err(format!("{}: not a file", path.display()));
        }
        keys.insert(name, fs::read(&path).map_err(|e| at(&path, e))?);
    }
    Ok(keys)
}

/// `Err((missing, present))` when exactly one of two keys that go together is there.
fn pair<'a>(keys: &BTreeMap<String, Vec<u8>>, a: &'a str, b: &'a str) -> Result<(), (&'a str, &'a str)> {
    match (keys.contains_key(a), keys.contains_key(b)) {
        (true, false) => Err((b, a)),
        (false, true) => Err((a, b)),
        _ => Ok(()),
    }
}

fn mkdir(dir: &Path, mode: u32) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| at(dir, e))?;
    fs::set_permissions(dir, Permissions::from_mode(mode)).map_err(|e| at(dir, e))?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent).map_err(|e| at(parent, e))?;
    }
    Ok(())
}

fn at(path: &Path, e: io::Error) -> String {
    format!("{}: {e}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(pairs: &[(&str, &str)]) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for (k, v) in pairs {
            fs::write(t.path().join(k), v).unwrap();
        }
        t
    }

    fn settings(r: &Rendered) -> Value {
        serde_json::from_slice(&r.settings).unwrap()
    }

    #[test]
    fn endpoints_split_on_commas_and_newlines_and_paths_are_the_hosts() {
        let s = secret(&[
            ("endpoints", "https://10.0.0.1:2379, https://10.0.0.2:2379\nhttps://10.0.0.3:2379\n"),
            ("ca.crt", "CA"),
            ("tls.crt", "CERT"),
            ("tls.key", "KEY"),
            ("username", "railcni\n"),
            ("password", "pw\n"),
            ("node-grace-seconds", "600\n"),
        ]);
        let r = render(s.path(), Some("gpu-01"), Path::new("/etc/cni/net.d")).unwrap();
        let v = settings(&r);
        assert_eq!(
            v["etcd_endpoints"],
            json!(["https://10.0.0.1:2379", "https://10.0.0.2:2379", "https://10.0.0.3:2379"])
        );
        assert_eq!(v["etcd_ca_cert_file"], "/etc/cni/net.d/railcni.d/etcd/ca.crt");
        assert_eq!(v["etcd_key_file"], "/etc/cni/net.d/railcni.d/etcd/tls.key");
        assert_eq!(v["etcd_password_file"], "/etc/cni/net.d/railcni.d/etcd/password");
        assert_eq!(
            (&v["etcd_username"], &v["node_name"], &v["node_grace_seconds"]),
            (&json!("railcni"), &json!("gpu-01"), &json!(600))
        );
        assert!(!format!("{r:?}").contains("KEY") && !String::from_utf8_lossy(&r.settings).contains("pw"));
    }

    #[test]
    fn only_endpoints_is_needed_for_plain_http() {
        let s = secret(&[("endpoints", "http://127.0.0.1:2379")]);
        let v = settings(&render(s.path(), Some("n"), Path::new("/h")).unwrap());
        assert_eq!(v.as_object().unwrap().keys().collect::<Vec<_>>(), ["etcd_endpoints", "node_name"]);
    }

    #[test]
    fn each_mistake_names_its_key() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "key \"endpoints\": missing"),
            (&[("endpoints", " \n")], "key \"endpoints\": empty"),
            (&[("endpoints", "10.0.0.1:2379")], "is not an http:// or https:// URL"),
            (&[("endpoints", "https://e:2379")], "key \"ca.crt\": missing"),
            (&[("endpoints", "http://e:2379"), ("tls.crt", "C")], "key \"tls.key\": missing (tls.crt is set)"),
            (&[("endpoints", "http://e:2379"), ("password", "s3cret")], "key \"username\": missing (password is set)"),
            (&[("endpoints", "http://e:2379"), ("tls.cert", "C")], "unknown key \"tls.cert\""),
            (&[("endpoints", "http://e:2379"), ("ca.crt", "")], "key \"ca.crt\": empty"),
            (
                &[("endpoints", "http://e:2379"), ("node-grace-seconds", "0")],
                "key \"node-grace-seconds\": not a positive number",
            ),
        ];
        for (pairs, want) in cases {
            let s = secret(pairs);
            let e = render(s.path(), Some("n"), Path::new("/h")).unwrap_err();
            assert!(e.contains(want), "{pairs:?}: {e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
        let s = secret(&[("endpoints", "http://e:2379")]);
        assert!(render(s.path(), None, Path::new("/h")).unwrap_err().contains("NODE_NAME"));
        assert!(render(s.path(), Some("a/b"), Path::new("/h")).unwrap_err().contains("node name"));
    }
}
