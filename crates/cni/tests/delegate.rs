//! IPAM delegation against the real host-local binary (built by
//! `cargo build --workspace`, which the test command runs first).

use cni::args::CniArgs;
use cni::config::parse_stdin;
use cni::delegate::{IpamLease, exec, forward};
use cni::env::{Command, Env};
use cni::version::Version;
use cni::{Request, code};
use std::path::{Path, PathBuf};

fn bin_dir() -> PathBuf {
    let dir = std::env::var_os("RAILCNI_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug"));
    assert!(
        dir.join("host-local").is_file(),
        "{} has no host-local: run `cargo build --workspace` first",
        dir.display()
    );
    dir
}

fn request(data: &Path, ipam_type: &str, container: &str, path: Vec<PathBuf>) -> Request {
    let conf = format!(
        r#"{{"cniVersion":"1.0.0","name":"dlg","type":"bridge",
            "ipam":{{"type":"{ipam_type}","dataDir":"{}","ranges":[[{{"subnet":"10.77.0.0/29"}}]]}}}}"#,
        data.display()
    );
    let (raw, conf) = parse_stdin(conf.as_bytes()).unwrap();
    let env = Env {
        command: Command::Add,
        container_id: container.into(),
        netns: "/var/run/netns/none".into(),
        ifname: "eth0".into(),
        args: String::new(),
        path,
    };
    let stdin = serde_json::to_vec(&raw).unwrap();
    Request { env, args: CniArgs::default(), conf, version: Version::V1_0_0, raw, stdin }
}

fn reservations(data: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data.join("dlg"))
        .map(|d| d.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
        .unwrap_or_default();
    names.retain(|n| n.starts_with("10."));
    names.sort();
    names
}

#[test]
fn a_dropped_lease_is_released_and_a_kept_one_stays() {
    let data = tempfile::tempdir().unwrap();
    let req = request(data.path(), "host-local", "c1", vec![bin_dir()]);
    {
        let lease = IpamLease::add(&req).unwrap();
        assert_eq!(lease.result.ips[0].address.to_string(), "10.77.0.2/29");
        assert_eq!(reservations(data.path()), ["10.77.0.2"]);
    }
    assert!(reservations(data.path()).is_empty(), "rollback left a reservation");

    let kept = IpamLease::add(&req).unwrap().keep();
    assert_eq!(kept.ips.len(), 1);
    assert_eq!(reservations(data.path()).len(), 1);
    forward(&req, Command::Check).unwrap();
    forward(&req, Command::Del).unwrap();
    assert!(reservations(data.path()).is_empty());
    forward(&req, Command::Check).unwrap_err();
}

#[test]
fn delegate_errors_pass_through_with_their_code() {
    let data = tempfile::tempdir().unwrap();
    let req = request(data.path(), "host-local", "c2", vec![bin_dir()]);
    let _first = IpamLease::add(&req).unwrap().keep();
    let e = exec(&req, "host-local", Command::Add).unwrap_err();
    assert_eq!(e.code(), code::DUPLICATE_ALLOCATION, "{e}");
    assert!(e.to_string().contains("duplicate"), "{e}");
}

#[test]
fn a_missing_plugin_is_a_config_error_naming_ipam_type() {
    let data = tempfile::tempdir().unwrap();
    let req = request(data.path(), "no-such-ipam", "c3", vec![bin_dir()]);
    let e = IpamLease::add(&req).err().unwrap();
    assert_eq!(e.code(), code::INVALID_CONFIG);
    assert!(e.to_string().starts_with("ipam.type:"), "{e}");
    let req = request(data.path(), "../host-local", "c3", vec![bin_dir()]);
    assert_eq!(IpamLease::add(&req).err().unwrap().code(), code::INVALID_CONFIG);
    let req = request(data.path(), "host-local", "c3", vec![]);
    let e = IpamLease::add(&req).err().unwrap();
    assert_eq!(e.code(), code::INVALID_ENV);
    assert!(e.to_string().starts_with("CNI_PATH:"), "{e}");
    assert!(reservations(data.path()).is_empty());
}
