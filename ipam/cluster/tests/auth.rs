//! etcd with TLS and auth on, the node logged in as a user whose only
//! permission is readwrite under `/railcni/`: every verb works with it, and
//! the same credentials are refused anywhere else. Credential files must be
//! private, and no credential ever reaches a result, an error or a log.

mod common;

use common::{NODE_PASSWORD, NODE_USER, Node, run, secure_cluster, start, write_private};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;

#[test]
fn every_verb_works_with_a_prefix_limited_user_over_tls() {
    let cluster = secure_cluster();
    let node = Node::secure("auth-a", &cluster);
    let conf = node.conf("auth", json!({"range": "10.85.0.0/24", "network_name": "auth"}));
    let a = run("ADD", &conf, "c1", "net1");
    a.assert_ok("ADD");
    run("ADD", &conf, "c2", "net1").assert_ok("ADD 2");
    run("CHECK", &conf, "c1", "net1").assert_ok("CHECK");
    run("STATUS", &conf, "", "").assert_ok("STATUS");
    // GC with only c1 valid frees c2.
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "c1", "ifname": "net1"}]);
    run("GC", &gc, "", "").assert_ok("GC");
    let keys = cluster.etcdctl(&["get", "--prefix", "--keys-only", "/railcni/"]);
    assert!(keys.contains("/c1/net1/") && !keys.contains("/c2/"), "GC kept c1 only: {keys}");
    run("DEL", &conf, "c1", "net1").assert_ok("DEL");
    run("DEL", &conf, "c1", "net1").assert_ok("DEL again");
    let keys = cluster.etcdctl(&["get", "--prefix", "--keys-only", "/railcni/ipam/v1/nodes/"]);
    assert!(!keys.contains("/c1/"), "{keys}");
    let records = cluster.etcdctl(&["get", "--prefix", "--keys-only", "/railcni/ipam/v1/nets/auth/pools/"]);
    assert!(!records.contains("/addrs/"), "{records}");
}

#[test]
fn the_nodes_credentials_are_refused_outside_the_prefix() {
    let cluster = secure_cluster();
    let node = Node::secure("auth-b", &cluster);
    // Root writes a key outside the prefix, so a refused read is not an absent key.
    cluster.etcdctl(&["put", "/other/secret", "root-only"]);
    let (cert, key) = (node.path("client.pem"), node.path("client.key"));
    let login = Some((NODE_USER, NODE_PASSWORD));
    for (what, cert, login) in [
        ("certificate and password", Some((cert.as_path(), key.as_path())), login),
        ("certificate alone (its CN)", Some((cert.as_path(), key.as_path())), None),
    ] {
        // Inside the prefix: allowed (the control).
        let put = cluster.etcdctl_as(cert, login, &["put", "/railcni/probe", "x"]);
        assert!(put.status.success(), "{what}: put inside the prefix: {put:?}");
        let get = cluster.etcdctl_as(cert, login, &["get", "/railcni/probe"]);
        assert!(get.status.success() && String::from_utf8_lossy(&get.stdout).contains('x'), "{what}: {get:?}");
        // Outside: refused, reading and writing.
        for args in [&["get", "/other/secret"][..], &["put", "/other/secret", "node"][..], &["put", "/x", "node"][..]] {
            let out = cluster.etcdctl_as(cert, login, args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success() && err.contains("permission denied"), "{what} {args:?}: {out:?}");
        }
    }
    assert_eq!(cluster.etcdctl(&["get", "--print-value-only", "/other/secret"]).trim(), "root-only");
    assert!(cluster.etcdctl(&["get", "--keys-only", "/x"]).trim().is_empty());
}

fn chmod(path: &std::path::Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn readable_credential_files_are_code_7_naming_file_and_mode() {
    let cluster = secure_cluster();
    let node = Node::secure("auth-c", &cluster);
    let conf = node.conf("perm", json!({"range": "10.86.0.0/24"}));
    for file in [node.settings(), node.path("client.key"), node.path("etcd-password")] {
        chmod(&file, 0o644);
        let out = run("ADD", &conf, "c", "net1");
        assert_eq!(out.code(), 7, "{file:?} 0644: {out:?}");
        assert!(out.msg().contains(&file.display().to_string()) && out.msg().contains("0644"), "{out:?}");
        chmod(&file, 0o640);
        assert!(run("ADD", &conf, "c", "net1").msg().contains("0640"));
        chmod(&file, 0o600);
    }
    // The admin tool reads the same file under the same rule.
    chmod(&node.settings(), 0o604);
    let out = node.admin(&["list"], "");
    assert!(out.code == 3 && out.stderr.contains("0604"), "{out:?}");
    chmod(&node.settings(), 0o600);
    assert!(cluster.etcdctl(&["get", "--prefix", "--keys-only", "/railcni/"]).trim().is_empty());
    run("ADD", &conf, "c", "net1").assert_ok("ADD once every file is private");
}

#[test]
fn no_credential_in_results_errors_or_logs() {
    let cluster = secure_cluster();
    let node = Node::secure("auth-d", &cluster);
    let log = node.path("plugin.log");
    let conf = |extra: serde_json::Value| {
        let mut c = node.conf("sec", json!({"range": "10.87.0.0/24"}));
        c["logFile"] = json!(log);
        c["logLevel"] = json!("debug");
        for (k, v) in extra.as_object().unwrap() {
            c["ipam"][k] = v.clone();
        }
        c
    };
    let wrong = "wrong-pw-Zq81vX";
    let pw = node.path("wrong-password");
    write_private(&pw, wrong.as_bytes());
    // Not base64: not PEM. And PEM whose content is no key: the parser takes it, the TLS setup does not.
    let bad_key_secret = "SECRET-key-material!not*base64";
    let bad_key = node.path("bad.key");
    write_private(
        &bad_key,
        format!("-----BEGIN PRIVATE KEY-----\n{bad_key_secret}\n-----END PRIVATE KEY-----\n").as_bytes(),
    );
    let garbage_secret = "U0VDUkVUS0VZTUFURVJJQUxub3RhcmVhbGtleQ";
    let garbage_key = node.path("garbage.key");
    write_private(
        &garbage_key,
        format!("-----BEGIN PRIVATE KEY-----\n{garbage_secret}\n-----END PRIVATE KEY-----\n").as_bytes(),
    );
    let real_key = std::fs::read_to_string(node.path("client.key")).unwrap();
    let real_key_line = real_key.lines().nth(1).unwrap().to_string();
    let cases = [
        ("wrong password", conf(json!({"etcd_password_file": pw, "timeout": 2}))),
        ("bad key", conf(json!({"etcd_key_file": bad_key, "timeout": 2}))),
        ("garbage key", conf(json!({"etcd_key_file": garbage_key, "timeout": 2}))),
    ];
    for (what, c) in cases {
        for cmd in ["ADD", "DEL", "CHECK", "STATUS"] {
            let (cid, ifname) = if cmd == "STATUS" { ("", "") } else { ("c", "net1") };
            let out = start(cmd, &c, cid, ifname, &[("RAILCNI_LOG", "trace")]).finish();
            match (what, cmd) {
                // Not worth a retry, and not journaled: the release would never go through.
                ("bad key", _) => {
                    assert_eq!(out.code(), 7, "{out:?}");
                    assert!(out.msg().contains("bad.key: not a PEM private key"), "{out:?}");
                }
                (_, "STATUS") => assert_eq!(out.code(), 50, "{what}: {out:?}"),
                ("garbage key", "DEL") => {} // journaled for a later run: the connection may come up
                ("garbage key", _) => assert!(!out.ok(), "{out:?}"),
                _ => assert!(!out.ok() && out.msg().contains("authentication failed"), "{what} {cmd}: {out:?}"),
            }
            let logged = std::fs::read_to_string(&log).unwrap_or_default();
            let all = format!("{}\n{}\n{logged}", out.stdout, out.stderr);
            for secret in [wrong, NODE_PASSWORD, bad_key_secret, garbage_secret, real_key_line.as_str()] {
                assert!(!all.contains(secret), "{what} {cmd}: a credential leaked: {all}");
            }
        }
    }
    // The admin tool too, with the wrong password in its settings.
    node.amend_settings(json!({"etcd_password_file": pw, "timeout": 2}));
    let out = node.admin(&["list"], "");
    assert_eq!(out.code, 3, "{out:?}");
    assert!(!format!("{out:?}").contains(wrong), "{out:?}");
    // The heartbeat gives up on refused credentials (a crash loop shows it), saying why.
    let mut hb = std::process::Command::new(common::ADMIN)
        .arg("--config")
        .arg(node.settings())
        .arg("heartbeat")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let status = loop {
        if let Some(s) = hb.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = hb.kill();
            let _ = hb.wait();
            panic!("the heartbeat kept running with a wrong password");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut hb.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(3), "{err}");
    assert!(err.contains("authentication failed") && !err.contains(wrong), "{err}");
}
