//! A disposable node for the bridge tests: a "host" namespace in which the
//! runtime and the plugins run, pod namespaces, a bridge name, and temp
//! config/IPAM/cache dirs. Everything goes away on drop, pass or fail.

use crate::driver::{self, Call, Dirs, DriverOut};
use crate::netns::{NetNs, unique_prefix};
use crate::outcome::Outcome;
use crate::plugin::{Invocation, Plugin};
use crate::store;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

pub struct Lab {
    // Field order is drop order: pods (and their veth ends) go first.
    pods: Vec<NetNs>,
    pub host: NetNs,
    tmp: TempDir,
    /// Unique per lab, e.g. `rcb-4242-7`; also the network and bridge name.
    pub prefix: String,
    pub bridge: String,
    pub net: String,
    /// `CNI_PATH` for the driver.
    pub cni_path: String,
}

impl Lab {
    /// A host namespace and empty dirs; `cni_path` is what the runtime searches.
    pub fn new(cni_path: &str) -> Lab {
        let prefix = unique_prefix("rcb");
        assert!(prefix.len() <= 15, "{prefix} is too long for an interface name");
        let host = NetNs::create(&format!("{prefix}-host")).unwrap_or_else(|e| panic!("{e}"));
        let tmp = tempfile::Builder::new().prefix("railcni-bridge-").tempdir().expect("temp dir");
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
        }
    }

    /// A new pod namespace; returns its index for [`Lab::pod`].
    pub fn add_pod(&mut self) -> usize {
        let i = self.pods.len();
        let ns = NetNs::create(&format!("{}-pod{i}", self.prefix)).unwrap_or_else(|e| panic!("{e}"));
        self.pods.push(ns);
        i
    }

    pub fn pod(&self, i: usize) -> &NetNs {
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
        json!({ "type": "host-local", "dataDir": self.ipam_dir().display().to_string(), "ranges": ranges })
    }

    /// The bridge plugin object: `{"type":"bridge","bridge":<ours>, ...extra, "ipam": ipam}`.
    pub fn bridge_plugin(&self, extra: Value, ipam: Value) -> Value {
        let mut p = json!({ "type": "bridge", "bridge": self.bridge });
        if let (Some(o), Some(e)) = (p.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                o.insert(k.clone(), v.clone());
            }
        }
        p["ipam"] = ipam;
        p
    }

    /// A conflist of `plugins` named after the lab.
    pub fn conflist(&self, version: &str, plugins: Vec<Value>) -> Value {
        json!({ "cniVersion": version, "name": self.net, "plugins": plugins })
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

    /// Runs a plugin binary directly (no runtime) in the host namespace.
    pub fn exec_plugin(&self, plugin: &Plugin, inv: &Invocation) -> Outcome {
        self.host.run(|| plugin.call(inv))
    }

    /// host-local reservations of the lab's network: address → content.
    pub fn reservations(&self) -> BTreeMap<String, String> {
        store::reservations(&self.ipam_dir().join(&self.net)).unwrap_or_default()
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
