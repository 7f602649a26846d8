//! Our bridge runs host-local in-process only when the `host-local` that
//! CNI_PATH names is railcni's own binary; any other one is exec'd, as the
//! spec says. railcni's host-local leaves `.railcni/` in the network
//! directory and the reference's does not, which tells the two apart.

use serde_json::json;
use testkit::binary::{REFERENCE_DIR, our_bin_dir};
use testkit::lab::Lab;
use testkit::netns::skip_without_root;
use testkit::{Binary, Invocation};

/// ADD then DEL through our bridge with `cni_path`; whether railcni's host-local served it.
fn served_by_railcni(cni_path: &str) -> bool {
    let mut lab = Lab::new(cni_path);
    let p = lab.add_pod();
    let plugin =
        lab.bridge_plugin(json!({ "isGateway": true }), lab.host_local(json!([[{ "subnet": "10.84.0.0/24" }]])));
    let conf = lab.plugin_conf("1.0.0", plugin);
    let pod = lab.pod(p).path_str();
    let inv = |verb: fn() -> Invocation| {
        verb()
            .attachment(&lab.cid(p), "eth0")
            .set("CNI_NETNS", &pod)
            .set("CNI_PATH", cni_path)
            .set("RAILCNI_LOG", "debug")
            .stdin_json(&conf)
    };
    let bridge = Binary::ours("bridge");
    let out = lab.exec_plugin(&bridge, &inv(Invocation::add));
    let added = out.assert_ok_json();
    assert_eq!(added["ips"][0]["address"], "10.84.0.2/24", "{added}");
    let in_process = String::from_utf8_lossy(&out.stderr).contains("running the delegate in-process");
    let railcni = lab.ipam_dir().join(&lab.net).join(".railcni").exists();
    assert_eq!(in_process, railcni, "in-process exactly when railcni's host-local is named\n{}", out.describe());
    lab.exec_plugin(&bridge, &inv(Invocation::del)).assert_ok_silent();
    assert!(lab.reservations().is_empty(), "DEL must release through the same host-local");
    railcni
}

#[test]
fn our_host_local_runs_in_process_and_any_other_is_executed() {
    if skip_without_root("the bridge delegation tests") {
        return;
    }
    let ours = our_bin_dir("debug").display().to_string();
    assert!(served_by_railcni(&ours), "railcni's host-local on CNI_PATH");
    // The reference directory first: its host-local must be exec'd, not replaced.
    assert!(!served_by_railcni(&format!("{REFERENCE_DIR}:{ours}")), "the reference host-local on CNI_PATH");
}
