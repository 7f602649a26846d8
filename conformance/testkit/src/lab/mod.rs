//! A disposable node for the interface-plugin tests (bridge, macvlan, vlan):
//! a "host" namespace in which the runtime and the plugins run, pod
//! namespaces, a bridge name, and temp config/IPAM/cache dirs. Everything
//! goes away on drop, pass or fail.
//!
//! Besides the setup, the lab has what every such test does through the
//! driver: ADD/CHECK/DEL of a pod, concurrent ADDs, and the check that a DEL
//! released what the attachment held.

pub mod bridge;
pub mod macvlan;
pub mod rails;
pub mod rails_check;
pub mod sriov;
pub mod sriov_rails;

use crate::binary::{Binary, Invocation, our_cni_path};
use crate::conf;
use crate::driver::{self, Call, Dirs, DriverOut, Lib};
use crate::netns::{Namespace, unique_prefix};
use crate::outcome::Outcome;
use crate::store;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

pub struct Lab {
    // Field order is drop order: pods (and their veth ends) go first.
    pods: Vec<Namespace>,
    pub host: Namespace,
    tmp: TempDir,
    /// Unique per lab, e.g. `rcb-4242-7`; also the network and bridge name.
    pub prefix: String,
    pub bridge: String,
    pub net: String,
    /// `CNI_PATH` for the driver.
    pub cni_path: String,
    /// PCI addresses of the devices (SR-IOV VFs) this lab's attachments
    /// use: network `n` of pod 0 gets `devices[n]`, pod `p` of network 0 `devices[p]`.
    pub devices: Vec<String>,
}

impl Lab {
    /// A host namespace and empty dirs; `cni_path` is what the runtime searches.
    pub fn new(cni_path: &str) -> Lab {
        Lab::with_host(cni_path, Namespace::create)
    }

    /// A lab whose "host" is the namespace this process runs in (the node's
    /// own), for plugins that need its devices; only the pods are private.
    pub fn in_current_ns(cni_path: &str) -> Lab {
        Lab::with_host(cni_path, Namespace::attach_current)
    }

    fn with_host(cni_path: &str, host: impl FnOnce(&str) -> Result<Namespace, String>) -> Lab {
        let prefix = unique_prefix("rcb");
        assert!(prefix.len() <= 15, "{prefix} is too long for an interface name");
        let host = host(&format!("{prefix}-host")).unwrap_or_else(|e| panic!("{e}"));
        let tmp = tempfile::Builder::new().prefix("railcni-lab-").tempdir().expect("temp dir");
        for d in ["net.d", "ipam", "cache"] {
            std::fs::create_dir(tmp.path().join(d)).expect("mkdir");
        }
        Lab {
            pods: Vec::new(),
            host,
            tmp,
            bridge: prefix.clone(),
            net: prefix.clone(),
            prefix,
            cni_path: cni_path.to_string(),
            devices: Vec::new(),
        }
    }

    /// A lab whose runtime finds our `plugin` and host-local (the build output
    /// dir); panics with build instructions if either is missing.
    pub fn ours(plugin: &str) -> Lab {
        Lab::new(&our_cni_path(&[plugin, "host-local"]))
    }

    /// A new pod namespace; returns its index for [`Lab::pod`].
    pub fn add_pod(&mut self) -> usize {
        let i = self.pods.len();
        let ns = Namespace::create(&format!("{}-pod{i}", self.prefix)).unwrap_or_else(|e| panic!("{e}"));
        self.pods.push(ns);
        i
    }

    pub fn pod(&self, i: usize) -> &Namespace {
        &self.pods[i]
    }

    /// A container ID per pod, as a runtime would pass.
    pub fn cid(&self, i: usize) -> String {
        format!("{}-ctr{i}", self.prefix)
    }

    pub fn ipam_dir(&self) -> PathBuf {
        self.tmp.path().join("ipam")
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.tmp.path().join("cache")
    }

    pub fn tmp(&self) -> &Path {
        self.tmp.path()
    }

    /// host-local over `ranges`, storing into this lab's dataDir.
    pub fn host_local(&self, ranges: Value) -> Value {
        crate::profile::Profile::host_local(&self.ipam_dir(), ranges)
    }

    /// The bridge plugin object: `{"type":"bridge","bridge":<ours>, ...extra, "ipam": ipam}`.
    pub fn bridge_plugin(&self, extra: Value, ipam: Value) -> Value {
        plugin_object(json!({ "type": "bridge", "bridge": self.bridge }), extra, ipam)
    }

    /// A conflist of `plugins` named after the lab.
    pub fn conflist(&self, version: &str, plugins: Vec<Value>) -> Value {
        json!({ "cniVersion": version, "name": self.net, "plugins": plugins })
    }

    /// One plugin's config as a runtime passes it on stdin (no runtime in
    /// between): the plugin object with `cniVersion` and the lab's network name.
    pub fn plugin_conf(&self, version: &str, plugin: Value) -> Value {
        let mut c = plugin;
        c["cniVersion"] = json!(version);
        c["name"] = json!(self.net);
        c
    }

    /// Writes the conflist the driver will load by name.
    pub fn write_conflist(&self, conflist: &Value) {
        let path = self.tmp.path().join("net.d").join(format!("{}.conflist", self.net));
        std::fs::write(&path, serde_json::to_string_pretty(conflist).expect("json")).expect("write conflist");
    }

    /// The driver verb for pod `i` with the lab's container ID.
    pub fn call(&self, verb: &'static str, i: usize) -> Call {
        Call::new(verb, &self.net, &self.pods[i].path_str()).container_id(&self.cid(i))
    }

    /// Runs the Go driver in the host namespace.
    pub fn drive(&self, call: &Call) -> DriverOut {
        let dirs = Dirs {
            conf_dir: self.tmp.path().join("net.d"),
            cni_path: self.cni_path.clone(),
            cache_dir: self.cache_dir(),
        };
        driver::run(&self.host, &dirs, call)
    }

    /// ADD for pod `i` through `lib`, which must succeed with a result: the
    /// 1.x result and the driver's output.
    #[track_caller]
    pub fn add_ok(&self, i: usize, lib: Lib) -> (Value, DriverOut) {
        let out = self.drive(&self.call("add", i).lib(lib));
        (out.assert_result(lib), out)
    }

    /// CHECK for pod `i` through `lib`, which must succeed.
    #[track_caller]
    pub fn check_ok(&self, i: usize, lib: Lib) {
        self.drive(&self.call("check", i).lib(lib)).assert_ok();
    }

    /// DEL for pod `i` through `lib`, which must succeed.
    #[track_caller]
    pub fn del_ok(&self, i: usize, lib: Lib) {
        self.drive(&self.call("del", i).lib(lib)).assert_ok();
    }

    /// A failed libcni ADD of pod `pod`: CNI error `code` whose msg or
    /// details name `key`. Returns the msg.
    #[track_caller]
    pub fn assert_add_fails(&self, pod: usize, code: u64, key: &str) -> String {
        self.assert_fails(&self.call("add", pod), code, key)
    }

    /// [`Lab::assert_add_fails`] for any call (another ifname, say).
    #[track_caller]
    pub fn assert_fails(&self, call: &Call, code: u64, key: &str) -> String {
        let out = self.drive(call);
        let err = out.assert_error_code(code);
        let msg = err["msg"].as_str().unwrap_or_default().to_string();
        let details = err["details"].as_str().unwrap_or_default();
        assert!(format!("{msg} {details}").contains(key), "error msg must name {key:?}: {err}\n{}", out.describe());
        msg
    }

    /// ADD (libcni) for every pod of `pods` at once, one driver each: what a
    /// node does when pods start together. The outputs are in `pods` order.
    pub fn add_concurrently(&self, pods: &[usize]) -> Vec<DriverOut> {
        std::thread::scope(|s| {
            let handles: Vec<_> = pods.iter().map(|&p| s.spawn(move || self.drive(&self.call("add", p)))).collect();
            handles.into_iter().map(|h| h.join().expect("driver thread")).collect()
        })
    }

    /// After a DEL of pod `i`: no `eth0` in the pod (if the pod still
    /// exists), no reservation held by its container ID, no libcni cache entry.
    #[track_caller]
    pub fn assert_released(&self, i: usize) {
        let pod = self.pod(i);
        if pod.exists() {
            assert!(pod.link("eth0").is_none(), "eth0 left in the pod after DEL\n{}", pod.dump());
        }
        let held = self.held_by(i);
        assert!(held.is_empty(), "reservations of {} left after DEL: {held:?}", self.cid(i));
        assert!(!self.cache_entry(i, "eth0").exists(), "libcni cache entry left after DEL");
    }

    /// DEL for pod `i` as libcni would send it (`conf` with the ADD result
    /// `prev` as prevResult) but with an empty `CNI_NETNS`, as after the
    /// runtime lost the netns: `plugin` exec'd directly, which no runtime
    /// library lets a test express.
    pub fn del_without_netns(&self, plugin: &Binary, i: usize, conf: &Value, prev: &Value) -> Outcome {
        let stdin = conf::with_prev_result(conf, prev);
        let inv = Invocation::del().attachment(&self.cid(i), "eth0").set("CNI_NETNS", "").stdin_json(&stdin);
        self.exec_plugin(plugin, &inv)
    }

    /// Runs a plugin binary directly (no runtime) in the host namespace.
    pub fn exec_plugin(&self, plugin: &Binary, inv: &Invocation) -> Outcome {
        self.host.run(|| plugin.call(inv))
    }

    /// host-local reservations of the lab's network: address → content.
    pub fn reservations(&self) -> BTreeMap<String, String> {
        store::reservations(&self.ipam_dir().join(&self.net)).unwrap_or_default()
    }

    /// host-local reservations held by pod `i`'s container ID.
    pub fn held_by(&self, i: usize) -> Vec<String> {
        let cid = self.cid(i);
        self.reservations().into_iter().filter(|(_, c)| c.starts_with(&format!("{cid}\r\n"))).map(|(k, _)| k).collect()
    }

    /// libcni's cached result for pod `i`.
    pub fn cache_entry(&self, i: usize, ifname: &str) -> PathBuf {
        driver::cache_entry(&self.cache_dir(), &self.net, &self.cid(i), ifname)
    }

    /// Host veths (`veth` + 8 hex digits) currently in the host namespace.
    pub fn host_veths(&self) -> Vec<String> {
        self.host.link_names("veth")
    }
}

/// A plugin object: `base` with the keys of `extra` over it, then `ipam`.
/// A `null` in `extra` removes the key (`{"master": null}`: no master).
pub fn plugin_object(base: Value, extra: Value, ipam: Value) -> Value {
    let mut p = base;
    if let (Some(o), Some(e)) = (p.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            if v.is_null() {
                o.remove(k);
            } else {
                o.insert(k.clone(), v.clone());
            }
        }
    }
    p["ipam"] = ipam;
    p
}
