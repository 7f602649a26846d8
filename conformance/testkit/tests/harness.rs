//! Self-tests of the harness, against small shell scripts standing in for plugins:
//! the conformance verdicts are only as good as what the harness observes.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;
use tempfile::TempDir;
use testkit::{Binary, Invocation};

fn script(body: &str) -> (TempDir, Binary) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("fake-plugin");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let p = Binary::find(dir.path(), "fake-plugin", "fake").expect("find");
    (dir, p)
}

#[test]
fn captures_stdin_env_stdout_stderr_and_status() {
    let (_d, p) = script(r#"cat; echo "cmd=$CNI_COMMAND ifname=${CNI_IFNAME-unset} path=$CNI_PATH" >&2; exit 3"#);
    let out = p.call(&Invocation::add().unset("CNI_IFNAME").stdin_raw(r#"{"a":1}"#));
    assert_eq!(out.exit_code, Some(3));
    assert_eq!(out.json().expect("json"), serde_json::json!({"a": 1}));
    let err = out.stderr_str();
    assert!(err.contains("cmd=ADD ifname=unset"), "{err}");
    assert!(err.contains(&format!("path={}", p.dir().display())), "default CNI_PATH: {err}");
    assert!(!out.panicked());
}

#[test]
fn stray_cni_variables_of_the_runner_are_not_inherited() {
    let (_d, p) = script(r#"echo "{\"args\":\"${CNI_ARGS-unset}\"}""#);
    // SAFETY: set before any thread of this test spawns a child; other tests in this
    // binary only read CNI_ARGS through the harness, which removes it.
    unsafe { std::env::set_var("CNI_ARGS", "LEAK=1") };
    let out = p.call(&Invocation::del());
    assert_eq!(out.json().expect("json")["args"], "unset", "{}", out.describe());
}

#[test]
fn error_checks_classify_outputs() {
    let (_d, p) = script(r#"echo '{"code":7,"msg":"bad subnet"}'; exit 1"#);
    let out = p.call(&Invocation::add());
    assert_eq!(out.check_error(7).expect("code 7").trim(), "bad subnet");
    assert!(out.check_error(4).is_err());
    assert!(out.check_error_naming(7, &["subnet"]).is_ok());
    assert!(out.check_error_naming(7, &["rangeStart"]).is_err());
    assert!(out.check_ok().is_err());

    let (_d2, p2) = script(r#"echo '{"code":7,"msg":""}'; exit 1"#);
    assert!(p2.call(&Invocation::add()).check_error(7).is_err(), "empty msg is rejected");

    let (_d3, p3) = script(r#"echo '{"code":7,"msg":"x"}'; exit 0"#);
    assert!(p3.call(&Invocation::add()).check_error(7).is_err(), "exit 0 is not an error");
}

#[test]
fn panics_are_failures() {
    let (_d, p) = script(r#"echo '{"code":7,"msg":"x"}'; echo "thread 'main' panicked at src/x.rs" >&2; exit 1"#);
    let out = p.call(&Invocation::add());
    assert!(out.panicked());
    assert!(out.check_error(7).is_err());

    let (_d2, p2) = script("exit 101");
    assert!(p2.call(&Invocation::add()).panicked());
}

#[test]
fn hung_plugin_is_killed_at_the_timeout() {
    // A forked helper keeps stdout open: the whole process group must die.
    let (_d, p) = script("sleep 30 & exec sleep 30");
    let out = p.call(&Invocation::add().timeout(Duration::from_millis(300)));
    assert!(out.timed_out, "{}", out.describe());
    assert_eq!(out.signal, Some(9));
    assert!(out.wall < Duration::from_secs(10));
    assert!(out.check_ok().is_err());
}

#[test]
fn rusage_is_the_childs_own() {
    // Burn a little CPU in the child; the harness must attribute it to this run.
    let (_d, p) = script("i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo '{}'");
    let out = p.call(&Invocation::add());
    out.assert_ok_json();
    assert!(out.usage.cpu() > Duration::from_millis(5), "cpu {:?}", out.usage);
    assert!(out.usage.max_rss_kib > 0);
    assert!(out.wall >= out.usage.cpu() / 2);
}

#[test]
fn missing_binary_is_reported_not_panicked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let err = Binary::find(dir.path(), "nope", "ours").expect_err("missing");
    assert!(err.contains("not found"), "{err}");
}
