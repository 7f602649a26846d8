//! The ptp plugin end to end: pods routed through the host over veth pairs,
//! driven by the Go runtime driver (libcni), and exec'd directly where a
//! runtime cannot express the case (DEL with an empty `CNI_NETNS`). Every
//! test builds a [`Lab`] (its own host namespace, pod namespaces, temp
//! dirs), all removed on drop. Needs root (SKIPPED otherwise), `ip`, `nft`
//! and `ping`.

use serde_json::{Value, json};
use testkit::Binary;
use testkit::driver::Lib;
use testkit::footprint::nft_ruleset;
use testkit::lab::Lab;
use testkit::netns::{have_ping, skip_without_root};

/// The driver's libcni (1.1.2) cannot parse 1.1.0 results.
const V: &str = "1.0.0";
const SUBNET4: &str = "10.73.0.0/24";
const SUBNET6: &str = "fd73::/64";

fn lab() -> Option<Lab> {
    (!skip_without_root("the ptp tests")).then(|| Lab::ours("ptp"))
}

fn ptp(keys: Value, ipam: Value) -> Value {
    testkit::lab::plugin_object(json!({ "type": "ptp" }), keys, ipam)
}

fn dual_stack(lab: &Lab) -> Value {
    let mut ipam = lab.host_local(json!([[{ "subnet": SUBNET4 }], [{ "subnet": SUBNET6 }]]));
    ipam["routes"] = json!([{ "dst": "10.99.0.0/16" }]);
    ipam
}

/// Writes a one-plugin conflist and returns the plugin's config as sent on stdin.
fn setup(lab: &Lab, keys: Value, ipam: Value) -> Value {
    let plugin = ptp(keys, ipam);
    lab.write_conflist(&lab.conflist(V, vec![plugin.clone()]));
    lab.plugin_conf(V, plugin)
}

/// The pod address of family `v4` in an ADD result.
fn address(result: &Value, v4: bool) -> String {
    let ips = result["ips"].as_array().cloned().unwrap_or_default();
    let ip = ips.iter().filter_map(|i| i["address"].as_str()).find(|a| a.contains('.') == v4);
    ip.and_then(|a| a.split('/').next()).unwrap_or_else(|| panic!("no address in {result}")).to_string()
}

#[test]
fn pods_ping_each_other_through_the_host() {
    let Some(mut lab) = lab() else { return };
    if !have_ping() {
        eprintln!("SKIPPED: no ping");
        return;
    }
    let (a, b) = (lab.add_pod(), lab.add_pod());
    setup(&lab, json!({ "mtu": 1400 }), dual_stack(&lab));
    let (ra, _) = lab.add_ok(a, Lib::Libcni);
    let (rb, _) = lab.add_ok(b, Lib::Libcni);
    // The reference's layout: [host veth, pod veth], addresses on interface 1.
    let host_veth = ra["interfaces"][0]["name"].as_str().unwrap_or_default().to_string();
    assert!(ra["interfaces"][0].get("sandbox").is_none(), "{ra}");
    assert_eq!(ra["interfaces"][1]["name"], "eth0", "{ra}");
    assert_eq!(ra["ips"][0]["interface"], 1, "{ra}");
    let host = lab.host.require_link(&host_veth);
    assert_eq!(host.mtu(), 1400);
    let (a4, b4, b6) = (address(&ra, true), address(&rb, true), address(&rb, false));
    assert!(lab.host.global_addrs(&host_veth).contains(&"10.73.0.1/32".to_string()), "the gateway /32 on the host end");
    let routes = lab.host.ip(&["route", "show", &a4]).unwrap();
    assert!(routes.contains(&host_veth), "host route to {a4}: {routes}");
    let pod_routes = lab.pod(a).ip(&["route"]).unwrap();
    assert!(pod_routes.contains("10.73.0.0/24 via 10.73.0.1"), "the subnet goes via the gateway: {pod_routes}");
    lab.pod(a).ping(&b4).unwrap_or_else(|e| panic!("pod a -> pod b over IPv4: {e}"));
    // IPv6 waits for the host ends' link-local addresses (DAD).
    lab.pod(a).ping_with(&["-w", "5"], &b6).unwrap_or_else(|e| panic!("pod a -> pod b over IPv6: {e}"));
    lab.pod(b).ping(&a4).unwrap_or_else(|e| panic!("pod b -> pod a: {e}"));
    lab.check_ok(a, Lib::Libcni);
    for p in [a, b] {
        lab.del_ok(p, Lib::Libcni);
        lab.assert_released(p);
    }
    assert!(lab.host_veths().is_empty(), "host veths left: {:?}", lab.host_veths());
    lab.del_ok(a, Lib::Libcni);
}

#[test]
fn masquerading_is_removed_by_a_del_without_netns() {
    let Some(mut lab) = lab() else { return };
    let p = lab.add_pod();
    let conf = setup(&lab, json!({ "ipMasq": true }), dual_stack(&lab));
    let (result, _) = lab.add_ok(p, Lib::Libcni);
    let cid = lab.cid(p);
    let rules = nft_ruleset(&lab.host);
    let ours = |ruleset: &str| ruleset.lines().filter(|l| l.contains(&format!("id: {cid}\""))).count();
    assert_eq!(ours(&rules), 2, "one masquerade rule per address:\n{rules}");
    lab.check_ok(p, Lib::Libcni);
    // The runtime lost the netns: DEL comes with CNI_NETNS="" (plugins#810 leaks the rules there).
    lab.pod(p).delete().unwrap();
    lab.del_without_netns(&Binary::ours("ptp"), p, &conf, &result).assert_ok_silent();
    let rules = nft_ruleset(&lab.host);
    assert_eq!(ours(&rules), 0, "masquerade rules left after DEL:\n{rules}");
    assert!(lab.held_by(p).is_empty(), "reservation left: {:?}", lab.reservations());
    lab.del_without_netns(&Binary::ours("ptp"), p, &conf, &result).assert_ok_silent();
}

/// A config ADD must refuse with code 7 naming `key`, leaving nothing: no
/// veth on the host, no reservation.
struct BadConfig {
    keys: fn() -> Value,
    ipam: fn(&Lab) -> Value,
    key: &'static str,
}

fn bad_config_is_code_7(case: BadConfig) {
    let Some(mut lab) = lab() else { return };
    let p = lab.add_pod();
    setup(&lab, (case.keys)(), (case.ipam)(&lab));
    lab.assert_add_fails(p, 7, case.key);
    assert!(lab.host_veths().is_empty(), "host veth left: {:?}", lab.host_veths());
    assert!(lab.pod(p).link("eth0").is_none(), "eth0 left\n{}", lab.pod(p).dump());
    assert!(lab.held_by(p).is_empty(), "reservation left: {:?}", lab.reservations());
    lab.del_ok(p, Lib::Libcni);
}

testkit::table_tests!(bad_config_is_code_7 {
    bad_mtu_is_code_7: BadConfig { keys: || json!({ "mtu": -1 }), ipam: dual_stack, key: "mtu" },
    bad_masq_backend_is_code_7: BadConfig {
        keys: || json!({ "ipMasqBackend": "pf" }),
        ipam: dual_stack,
        key: "ipMasqBackend"
    },
    no_ipam_is_code_7: BadConfig { keys: || json!({}), ipam: |_| json!({}), key: "ipam" },
    address_without_gateway_is_code_7: BadConfig {
        keys: || json!({}),
        ipam: |_| json!({ "type": "static", "addresses": [{ "address": "10.73.0.9/24" }] }),
        key: "ipam"
    },
});
