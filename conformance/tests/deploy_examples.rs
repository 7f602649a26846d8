//! Every CNI config that deploy/ ships (the NetworkAttachmentDefinitions in
//! deploy/examples, the conflists of the kustomize overlays) loaded into the
//! real plugin binaries, the way Multus hands them over: the config on
//! stdin, `CNI_IFNAME=net1`..., exec'd in a "host" namespace of the lab.
//!
//! - VERSION: each plugin an example names answers, and supports the
//!   example's cniVersion.
//! - IPAM: each example's ipam section allocates and releases through the
//!   real IPAM binary (dataDir redirected into the lab).
//! - ADD/DEL: bridge and macvlan examples are attached to a pod namespace
//!   and removed again (their masters are veths of the same names in the
//!   lab's host namespace). Where this kernel lacks the link type (vlan,
//!   ipvlan; SR-IOV needs a VF) the ADD must get past the config (succeed,
//!   or fail with an error that is not about the config) and DEL must
//!   succeed and leave nothing behind; those run for real in the VM stage's
//!   plugin tests.
//! - The 8-rail example: one pod gets all 8 rails, each with its default
//!   route in its own table.
//! - The cluster-ipam rail examples (flat and routed) need etcd, so the
//!   tests above leave them to their own test: an etcd cluster with the
//!   least-privilege user README "cluster-ipam on Kubernetes" sets up, railcni-install
//!   rendering the node settings from a Secret volume and installing the
//!   plugins, then one pod on all 8 rails of each example through the
//!   installed binaries, and all 8 DELs leaving nothing in etcd.
//!
//! Needs root for the namespaces (SKIPPED otherwise) and a debug build
//! (`cargo build --workspace`). `RAILCNI_BIN_DIR` points the test at other
//! binaries, e.g. deploy/check.sh runs it against the static release builds.

use serde::Deserialize;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use testkit::Binary;
use testkit::binary::{Invocation, our_bin_dir, workspace_dir};
use testkit::etcd::EtcdCluster;
use testkit::lab::Lab;
use testkit::lab::macvlan::add_veth_master;
use testkit::netns::skip_without_root;
use testkit::store::reservations;

/// Plugins that are written on other branches: an example may name them
/// before their binary exists here; once it does, it is tested like the rest.
const PENDING: &[&str] = &["ipvlan", "sriov", "sbr"];

/// Link types this kernel has, so their examples must attach for real.
const RUNS_HERE: &[&str] = &["bridge", "macvlan"];

/// Error codes that mean "your config is wrong" rather than "the node cannot do it".
const CONFIG_CODES: &[u64] = &[1, 2, 4, 6, 7];

/// A PCI address no machine this runs on has (bus 0xff, device 0x1f, function 7).
const ABSENT_VF: &str = "0000:ff:1f.7";

/// One CNI config shipped in deploy/, and where it came from.
#[derive(Debug, Clone)]
struct Example {
    source: String,
    conf: Value,
}

impl Example {
    /// The config as one runtime call per plugin gets it: each plugin
    /// object with the network's `cniVersion` and `name`.
    /// An `sriov` plugin also gets the `deviceID` Multus adds from the VF the
    /// kubelet allocated: here one that does not exist on this machine.
    fn plugin_confs(&self) -> Vec<Value> {
        let list = match self.conf.get("plugins").and_then(Value::as_array) {
            Some(list) => list.clone(),
            None => vec![self.conf.clone()],
        };
        list.into_iter()
            .map(|mut p| {
                p["cniVersion"] = self.conf["cniVersion"].clone();
                p["name"] = self.conf["name"].clone();
                if p["type"] == "sriov" && p.get("deviceID").is_none() {
                    p["deviceID"] = json!(ABSENT_VF);
                }
                p
            })
            .collect()
    }

    fn name(&self) -> String {
        self.conf["name"].as_str().unwrap_or_default().to_string()
    }

    fn version(&self) -> String {
        self.conf["cniVersion"].as_str().unwrap_or_default().to_string()
    }

    /// Its IPAM needs etcd: tested by `the_cluster_ipam_rails_through_etcd`.
    fn needs_etcd(&self) -> bool {
        self.plugin_confs().iter().any(|p| p["ipam"]["type"] == "cluster-ipam")
    }
}

fn deploy_dir() -> PathBuf {
    workspace_dir().join("deploy")
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Every NAD's spec.config under deploy/examples and every conflist file
/// under deploy/kustomize.
fn examples() -> Vec<Example> {
    let mut files = Vec::new();
    files_under(&deploy_dir().join("examples"), &mut files);
    files_under(&deploy_dir().join("kustomize"), &mut files);
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let shown = path.strip_prefix(workspace_dir()).unwrap_or(&path).display().to_string();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{shown}: {e}"));
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
        match ext {
            "conf" | "conflist" => out.push(example(shown, &text)),
            "yaml" | "yml" => {
                for doc in serde_yaml_ng::Deserializer::from_str(&text) {
                    let m = Value::deserialize(doc).unwrap_or_else(|e| panic!("{shown}: {e}"));
                    if m["kind"] == "NetworkAttachmentDefinition" {
                        let config = m["spec"]["config"].as_str().unwrap_or_else(|| panic!("{shown}: no spec.config"));
                        let ex = example(shown.clone(), config);
                        out.push(Example { source: format!("{shown} ({})", ex.name()), ..ex });
                    }
                }
            }
            _ => {}
        }
    }
    assert!(out.len() >= 13, "found only {} example configs in deploy/: {out:?}", out.len());
    out
}

fn example(source: String, text: &str) -> Example {
    let conf = serde_json::from_str(text).unwrap_or_else(|e| panic!("{source}: not JSON: {e}"));
    Example { source, conf }
}

/// Our binary `name`, or `None` for a pending plugin not built yet.
fn binary(name: &str, source: &str) -> Option<Binary> {
    match Binary::find(&our_bin_dir("debug"), name, "ours") {
        Ok(p) => Some(p),
        Err(_) if PENDING.contains(&name) => {
            println!("SKIPPED: {source}: no {name} binary on this branch yet");
            None
        }
        Err(e) => panic!("{source}: {e}; run `cargo build --workspace` first"),
    }
}

/// Points host-local's dataDir into the lab (the examples use the default).
fn redirect_ipam(conf: &mut Value, lab_ipam_dir: &Path) {
    if conf["ipam"]["type"] == "host-local" {
        conf["ipam"]["dataDir"] = json!(lab_ipam_dir.display().to_string());
    }
}

fn code(out: &testkit::Outcome) -> Option<u64> {
    out.json().ok().and_then(|v| v["code"].as_u64())
}

#[test]
fn every_plugin_an_example_names_answers_version() {
    let mut checked = 0;
    for ex in examples() {
        for conf in ex.plugin_confs() {
            let ty = conf["type"].as_str().unwrap_or_else(|| panic!("{}: a plugin without type", ex.source));
            let Some(plugin) = binary(ty, &ex.source) else { continue };
            let out = plugin.call(&Invocation::version(&ex.version()));
            out.check_ok().unwrap_or_else(|e| panic!("{}: {e}", ex.source));
            let v = out.json().unwrap_or_else(|e| panic!("{}: {e}", ex.source));
            let supported = v["supportedVersions"].as_array().cloned().unwrap_or_default();
            assert!(
                supported.contains(&json!(ex.version())),
                "{}: {ty} does not support {}: {v}",
                ex.source,
                ex.version()
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no example plugin was checked");
}

#[test]
fn every_ipam_section_allocates_and_releases() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut checked = 0;
    for (i, ex) in examples().iter().enumerate().filter(|(_, ex)| !ex.needs_etcd()) {
        for mut conf in ex.plugin_confs() {
            let Some(ipam) = conf["ipam"]["type"].as_str().map(str::to_string) else { continue };
            let Some(plugin) = binary(&ipam, &ex.source) else { continue };
            redirect_ipam(&mut conf, tmp.path());
            let cid = format!("deploy-examples-{i}");
            let add = plugin.add(&conf, &cid, "net1");
            add.check_ok().unwrap_or_else(|e| panic!("{}: IPAM ADD: {e}", ex.source));
            let result = add.json().unwrap_or_else(|e| panic!("{}: {e}", ex.source));
            assert!(!result["ips"].as_array().is_none_or(Vec::is_empty), "{}: no address: {result}", ex.source);
            plugin.del(&conf, &cid, "net1").check_ok().unwrap_or_else(|e| panic!("{}: IPAM DEL: {e}", ex.source));
            let left = reservations(&tmp.path().join(ex.name())).unwrap_or_default();
            assert!(left.is_empty(), "{}: reservations left after DEL: {left:?}", ex.source);
            checked += 1;
        }
    }
    assert!(checked > 0, "no IPAM section was checked");
}

/// A lab whose host namespace has a veth for every `master` the configs name.
fn lab_with_masters(confs: &[Value]) -> Lab {
    let lab = Lab::ours("macvlan");
    for conf in confs {
        if let Some(master) = conf["master"].as_str() {
            let peer = format!("{}p", &master[..master.len().min(14)]);
            if lab.host.link(master).is_none() {
                add_veth_master(&lab.host, master, &peer).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
    lab
}

/// ADD of `conf` into pod 0 as `ifname` (with prevResult from the chain so far).
fn add(lab: &Lab, plugin: &Binary, conf: &Value, ifname: &str) -> testkit::Outcome {
    let inv = Invocation::add().attachment(&lab.cid(0), ifname).set("CNI_NETNS", &lab.pod(0).path_str());
    lab.exec_plugin(plugin, &inv.stdin_json(conf))
}

fn del(lab: &Lab, plugin: &Binary, conf: &Value, ifname: &str) -> testkit::Outcome {
    let inv = Invocation::del().attachment(&lab.cid(0), ifname).set("CNI_NETNS", &lab.pod(0).path_str());
    lab.exec_plugin(plugin, &inv.stdin_json(conf))
}

/// The host namespace's links, less the bridges the configs name: a bridge
/// stays after the last DEL, as with the reference plugin.
fn host_links(lab: &Lab, confs: &[Value]) -> Vec<String> {
    let bridges: Vec<&str> = confs.iter().filter_map(|c| c["bridge"].as_str()).collect();
    let mut names: Vec<String> =
        lab.host.links().iter().map(|l| l.name().to_string()).filter(|n| !bridges.contains(&n.as_str())).collect();
    names.sort();
    names
}

/// ADD then DEL of one example in a fresh lab; returns whether it attached.
fn attach_and_detach(ex: &Example) -> bool {
    let mut confs = ex.plugin_confs();
    let mut lab = lab_with_masters(&confs);
    lab.add_pod();
    for c in &mut confs {
        redirect_ipam(c, &lab.ipam_dir());
    }
    let plugins: Vec<Option<Binary>> =
        confs.iter().map(|c| binary(c["type"].as_str().unwrap_or(""), &ex.source)).collect();
    if plugins.iter().any(Option::is_none) {
        return false;
    }
    let plugins: Vec<Binary> = plugins.into_iter().flatten().collect();
    let host_before = host_links(&lab, &confs);
    let (ifname, mut prev, mut attached) = ("net1", None::<Value>, true);
    let mut added = Vec::new();
    for (conf, plugin) in confs.iter().zip(&plugins) {
        let conf = prev.as_ref().map_or(conf.clone(), |p| testkit::conf::with_prev_result(conf, p));
        let out = add(&lab, plugin, &conf, ifname);
        added.push((conf, plugin));
        if out.success() {
            prev = Some(out.json().unwrap_or_else(|e| panic!("{}: {e}", ex.source)));
            continue;
        }
        let ty = plugin.name();
        assert!(!RUNS_HERE.contains(&ty), "{}: {ty} ADD failed on a kernel that has it: {}", ex.source, out.describe());
        let c = code(&out);
        // sriov's example gets an absent VF (as Multus would pass one): that
        // VF, and nothing else of the config, is what it may refuse.
        let msg = out.json().ok().and_then(|e| e["msg"].as_str().map(String::from)).unwrap_or_default();
        let absent_vf = ty == "sriov" && msg.starts_with("deviceID") && msg.contains("not found");
        assert!(
            absent_vf || c.is_some_and(|c| !CONFIG_CODES.contains(&c)),
            "{}: ADD rejected the config: {}",
            ex.source,
            out.describe()
        );
        println!("{}: {ty} ADD gets past the config, then this kernel refuses: {}", ex.source, out.stdout_str().trim());
        attached = false;
        break;
    }
    if attached {
        let result = prev.clone().unwrap_or_default();
        let link = lab.pod(0).link(ifname).unwrap_or_else(|| panic!("{}: no {ifname} in the pod: {result}", ex.source));
        assert!(link.admin_up(), "{}: {ifname} is down", ex.source);
        for ip in result["ips"].as_array().cloned().unwrap_or_default() {
            let addr = ip["address"].as_str().unwrap_or_default().to_string();
            assert!(lab.pod(0).global_addrs(ifname).contains(&addr), "{}: {addr} not on {ifname}", ex.source);
        }
    }
    for (conf, plugin) in added.iter().rev() {
        del(&lab, plugin, conf, ifname).check_ok().unwrap_or_else(|e| panic!("{}: DEL: {e}", ex.source));
    }
    assert!(lab.pod(0).link(ifname).is_none(), "{}: {ifname} left in the pod after DEL", ex.source);
    assert_eq!(host_links(&lab, &confs), host_before, "{}: host links changed:\n{}", ex.source, lab.host.dump());
    let left = reservations(&lab.ipam_dir().join(ex.name())).unwrap_or_default();
    assert!(left.is_empty(), "{}: reservations left after DEL: {left:?}", ex.source);
    attached
}

#[test]
fn every_example_attaches_or_gets_past_its_config() {
    if skip_without_root("the deploy example ADD/DEL tests") {
        return;
    }
    let mut attached = Vec::new();
    for ex in examples().into_iter().filter(|ex| !ex.needs_etcd()) {
        if attach_and_detach(&ex) {
            attached.push(ex.source.clone());
        }
    }
    println!("attached and detached: {attached:?}");
    for must in ["bridge.yaml", "macvlan.yaml", "10-railcni.conflist", "rails/nads.yaml"] {
        assert!(attached.iter().any(|s| s.contains(must)), "{must} did not attach: {attached:?}");
    }
}

/// The pod of deploy/examples/rails/pod.yaml: all 8 rail networks, in the
/// order Multus runs them, as net1..net8; each rail's rule and its default
/// route in the rail's own table; then all 8 DELs leave the pod with only
/// `lo` and no rail rule.
#[test]
fn the_8_rail_pod_gets_all_8_rails() {
    if skip_without_root("the 8-rail example") {
        return;
    }
    let rails: Vec<Example> = examples().into_iter().filter(|e| e.source.contains("rails/nads.yaml")).collect();
    assert_eq!(rails.len(), 8, "{rails:?}");
    let mut confs: Vec<Value> = rails.iter().map(|e| e.plugin_confs().remove(0)).collect();
    let mut lab = lab_with_masters(&confs);
    lab.add_pod();
    for c in &mut confs {
        redirect_ipam(c, &lab.ipam_dir());
    }
    let plugin = Binary::ours("macvlan");
    for (r, conf) in confs.iter().enumerate() {
        let ifname = format!("net{}", r + 1);
        let out = add(&lab, &plugin, conf, &ifname);
        out.check_ok().unwrap_or_else(|e| panic!("rail{r}: {e}"));
        let link = lab.pod(0).link(&ifname).unwrap_or_else(|| panic!("rail{r}: no {ifname}"));
        assert_eq!(link.kind(), "macvlan", "rail{r}");
        let addrs = lab.pod(0).global_addrs(&ifname);
        assert!(addrs.iter().any(|a| a.starts_with(&format!("10.20{r}."))), "rail{r}: {addrs:?}");
        let rail = conf["policyRouting"]["rail"].as_u64().unwrap_or_else(|| panic!("rail{r}: no policyRouting.rail"));
        let table = 1000 + rail;
        let ip = addrs[0].split('/').next().unwrap_or_default();
        let rules = lab.pod(0).ip(&["rule", "show"]).unwrap_or_else(|e| panic!("{e}"));
        assert!(rules.contains(&format!("{table}:\tfrom {ip} lookup {table}")), "rail{r}: {rules}");
        let routes =
            lab.pod(0).ip_json(&["route", "show", "table", &table.to_string()]).unwrap_or_else(|e| panic!("{e}"));
        let default = json!({ "dst": "default", "gateway": format!("10.20{r}.0.1"), "dev": ifname });
        let found = routes.as_array().into_iter().flatten().any(|rt| {
            rt["dst"] == default["dst"] && rt["gateway"] == default["gateway"] && rt["dev"] == default["dev"]
        });
        assert!(found, "rail{r}: table {table} has no {default}: {routes}");
    }
    assert_eq!(lab.pod(0).links().len(), 9, "lo + 8 rails:\n{}", lab.pod(0).dump());
    for (r, conf) in confs.iter().enumerate().rev() {
        del(&lab, &plugin, conf, &format!("net{}", r + 1)).check_ok().unwrap_or_else(|e| panic!("rail{r} DEL: {e}"));
    }
    let names: Vec<String> = lab.pod(0).links().iter().map(|l| l.name().to_string()).collect();
    assert_eq!(names, ["lo"], "{}", lab.pod(0).dump());
    let rules = lab.pod(0).ip(&["rule", "show"]).unwrap_or_else(|e| panic!("{e}"));
    assert!(!rules.contains("lookup 100"), "DEL left rail rules: {rules}");
    for ex in &rails {
        let left = reservations(&lab.ipam_dir().join(ex.name())).unwrap_or_default();
        assert!(left.is_empty(), "{}: reservations left: {left:?}", ex.source);
    }
}

/// `railcni-install`: beside the plugins in a debug build, one level up
/// from them in deploy/check.sh's static build (`bin/` holds the plugins).
fn installer() -> PathBuf {
    let dir = our_bin_dir("debug");
    [dir.join("railcni-install"), dir.join("../railcni-install")]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no railcni-install in or above {}; build it first", dir.display()))
}

/// The etcd setup of README "cluster-ipam on Kubernetes": a root user, and a user
/// `railcni` whose role may read and write only `/railcni/`; then auth on.
/// Returns railcni's password.
fn least_privilege_user(lab: &Lab, etcd: &EtcdCluster) -> &'static str {
    lab.host.run(|| {
        for args in [
            &["user", "add", "root:deploy-root-pw"][..],
            &["role", "add", "railcni"],
            &["role", "grant-permission", "--prefix=true", "railcni", "readwrite", "/railcni/"],
            &["user", "add", "railcni:deploy-railcni-pw"],
            &["user", "grant-role", "railcni", "railcni"],
            &["auth", "enable"],
        ] {
            etcd.etcdctl(args);
        }
    });
    "deploy-railcni-pw"
}

/// Keys under `prefix`, read as etcd's root in the lab's namespace.
fn etcd_keys(lab: &Lab, etcd: &EtcdCluster, prefix: &str) -> Vec<String> {
    let out =
        lab.host.run(|| etcd.etcdctl(&["--user", "root:deploy-root-pw", "get", "--prefix", "--keys-only", prefix]));
    out.lines().filter(|l| !l.is_empty()).map(String::from).collect()
}

/// A Kubernetes Secret volume's layout: values in `..data/`, one symlink per key.
fn secret_volume(dir: &Path, pairs: &[(&str, &str)]) {
    let data = dir.join("..2026_12_06_data");
    std::fs::create_dir_all(&data).expect("mkdir secret");
    for (k, v) in pairs {
        std::fs::write(data.join(k), v).expect("write secret key");
        std::os::unix::fs::symlink(format!("..data/{k}"), dir.join(k)).expect("symlink key");
    }
    std::os::unix::fs::symlink("..2026_12_06_data", dir.join("..data")).expect("symlink ..data");
}

/// The 8 rails of a cluster-ipam example in one pod, then gone again: each
/// address from the rail's range (routed: its /24 slice, gateway .1; flat:
/// not in the excluded /24, the rail's gateway), the rail's rule and default
/// route, 8 allocations of this node in etcd while attached, none after.
fn cluster_ipam_rails(lab: &Lab, etcd: &EtcdCluster, macvlan: &Binary, rails: &[Example], settings: &Path, node: &str) {
    let state = lab.tmp().join("cluster-ipam-state");
    let confs: Vec<Value> = rails
        .iter()
        .map(|e| {
            let mut c = e.plugin_confs().remove(0);
            // As host-local's dataDir: the settings file and state the lab's, not the node's.
            c["ipam"]["configuration_path"] = json!(settings);
            c["ipam"]["state_dir"] = json!(state);
            c
        })
        .collect();
    let routed = confs[0]["ipam"]["routed"] == true;
    for (r, conf) in confs.iter().enumerate() {
        let ifname = format!("net{}", r + 1);
        let out = add(lab, macvlan, conf, &ifname);
        out.check_ok().unwrap_or_else(|e| panic!("{}: {e}", rails[r].source));
        let result = out.json().unwrap_or_else(|e| panic!("{e}"));
        let addrs = lab.pod(0).global_addrs(&ifname);
        assert_eq!(addrs.len(), 1, "{}: {addrs:?}", rails[r].source);
        let (ip, prefix) = addrs[0].split_once('/').unwrap_or_default();
        let o: Vec<u8> = ip.split('.').map(|x| x.parse().unwrap_or(0)).collect();
        let gateway = result["ips"][0]["gateway"].as_str().unwrap_or_else(|| panic!("no gateway: {result}"));
        if routed {
            assert_eq!((o[0], o[1], prefix), (10, 210 + r as u8, "24"), "{}: {ip}/{prefix}", rails[r].source);
            assert_eq!(gateway, format!("10.{}.{}.1", o[1], o[2]), "{}: the slice's gateway", rails[r].source);
        } else {
            assert_eq!((o[0], o[1], prefix), (10, 200 + r as u8, "16"), "{}: {ip}/{prefix}", rails[r].source);
            assert_ne!(o[2], 0, "{}: {ip} is in the excluded 10.20{r}.0.0/24", rails[r].source);
            assert_eq!(gateway, format!("10.20{r}.0.1"), "{}", rails[r].source);
        }
        let table = 1000 + r;
        let rules = lab.pod(0).ip(&["rule", "show"]).unwrap_or_else(|e| panic!("{e}"));
        assert!(rules.contains(&format!("{table}:\tfrom {ip} lookup {table}")), "rail{r}: {rules}");
        let routes =
            lab.pod(0).ip_json(&["route", "show", "table", &table.to_string()]).unwrap_or_else(|e| panic!("{e}"));
        let found = routes
            .as_array()
            .into_iter()
            .flatten()
            .any(|rt| rt["dst"] == "default" && rt["gateway"] == gateway && rt["dev"] == ifname.as_str());
        assert!(found, "rail{r}: table {table} has no default via {gateway}: {routes}");
    }
    assert_eq!(lab.pod(0).links().len(), 9, "lo + 8 rails:\n{}", lab.pod(0).dump());
    let index = format!("/railcni/ipam/v1/nodes/{node}/att/");
    let held = etcd_keys(lab, etcd, &index);
    assert_eq!(held.len(), 8, "this node's index entries in etcd: {held:?}");
    for (r, conf) in confs.iter().enumerate().rev() {
        del(lab, macvlan, conf, &format!("net{}", r + 1)).check_ok().unwrap_or_else(|e| panic!("rail{r} DEL: {e}"));
    }
    let names: Vec<String> = lab.pod(0).links().iter().map(|l| l.name().to_string()).collect();
    assert_eq!(names, ["lo"], "{}", lab.pod(0).dump());
    assert_eq!(etcd_keys(lab, etcd, &index), Vec::<String>::new(), "index entries left after DEL");
    for conf in &confs {
        let net = conf["ipam"]["network_name"].as_str().unwrap_or_default();
        let records = etcd_keys(lab, etcd, &format!("/railcni/ipam/v1/nets/{net}/pools/"));
        assert!(!records.iter().any(|k| k.contains("/addrs/")), "{net}: allocations left after DEL: {records:?}");
    }
}

#[test]
fn the_cluster_ipam_rails_through_etcd() {
    if skip_without_root("the cluster-ipam rail examples") {
        return;
    }
    let examples = examples();
    let in_file = |f: &str| -> Vec<Example> { examples.iter().filter(|e| e.source.contains(f)).cloned().collect() };
    let (flat, routed) = (in_file("cluster-ipam/flat-rails.yaml"), in_file("cluster-ipam/routed-rails.yaml"));
    assert_eq!((flat.len(), routed.len()), (8, 8), "{flat:?} {routed:?}");
    let needing_etcd = examples.iter().filter(|e| e.needs_etcd()).count();
    assert_eq!(needing_etcd, 16, "a cluster-ipam example this test does not run");

    let confs: Vec<Value> = flat.iter().map(|e| e.plugin_confs().remove(0)).collect();
    let mut lab = lab_with_masters(&confs);
    lab.add_pod();
    // etcd listens on the loopback of the lab's host namespace, where the plugins run.
    let etcd = lab.host.run(EtcdCluster::start);
    let password = least_privilege_user(&lab, &etcd);

    // The DaemonSet's install, from a Secret volume and NODE_NAME, into the lab's dirs.
    let node = format!("{}-node", lab.prefix);
    let (src, bin, net_d, secret) =
        (lab.tmp().join("image"), lab.tmp().join("bin"), lab.tmp().join("net.d"), lab.tmp().join("secret"));
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::create_dir_all(&secret).expect("mkdir");
    for p in ["macvlan", "cluster-ipam"] {
        std::fs::copy(Binary::ours(p).path(), src.join(p)).unwrap_or_else(|e| panic!("copy {p}: {e}"));
    }
    let endpoints = etcd.endpoints().join(",");
    let keys = [("endpoints", endpoints.as_str()), ("username", "railcni\n"), ("password", password)];
    secret_volume(&secret, &[&keys[..], &[("node-grace-seconds", "600")]].concat());
    let out = std::process::Command::new(installer())
        .args(["install", "--once", "--src"])
        .arg(&src)
        .arg("--bin-dir")
        .arg(&bin)
        .arg("--conf-dir")
        .arg(&net_d)
        .arg("--host-conf-dir")
        .arg(&net_d)
        .arg("--cluster-ipam-secret")
        .arg(&secret)
        .env("NODE_NAME", &node)
        .output()
        .expect("run railcni-install");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "railcni-install: {log}");
    assert!(!log.contains(password), "the password was printed: {log}");
    let settings = net_d.join("railcni.d/cluster-ipam.json");

    let macvlan = Binary::find(&bin, "macvlan", "ours").unwrap_or_else(|e| panic!("{e}"));
    cluster_ipam_rails(&lab, &etcd, &macvlan, &flat, &settings, &node);
    cluster_ipam_rails(&lab, &etcd, &macvlan, &routed, &settings, &node);
    println!("16 cluster-ipam rails attached and detached through etcd as user railcni");
}
