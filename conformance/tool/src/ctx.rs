//! The plugin under test and the per-check environment built around it.

use crate::{Why, fail, skip};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use testkit::binary::{Binary, Invocation};
use testkit::cluster_ipam;
use testkit::lab::Lab;
use testkit::profile::{Kind, Profile};

/// Plugins other than the one under test that chaining checks run beside
/// it: the reference `loopback` and `tuning`, from Debian's package.
pub const HELPER_DIR: &str = testkit::binary::REFERENCE_DIR;

/// One plugin binary of one type, with what VERSION said about it.
pub struct Target {
    pub plugin: Binary,
    pub profile: &'static Profile,
    /// The directory the runtime searches (the plugin's, then [`HELPER_DIR`]).
    pub cni_path: String,
    /// `supportedVersions` from VERSION (empty if VERSION failed).
    pub versions: Vec<String>,
}

impl Target {
    /// The plugin `profile.name` in `dir`. IPAM delegates are looked up in `dir` too.
    pub fn new(dir: &Path, profile: &'static Profile) -> Result<Target, String> {
        let plugin = Binary::find(dir, profile.name, "under test")?;
        let out = plugin.call(&Invocation::version("1.0.0"));
        let versions = out
            .json()
            .ok()
            .and_then(|v| v["supportedVersions"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        let cni_path = format!("{}:{HELPER_DIR}", dir.display());
        Ok(Target { plugin, profile, cni_path, versions })
    }

    pub fn supports(&self, v: &str) -> bool {
        self.versions.iter().any(|s| s == v)
    }

    /// The newest version the plugin speaks of those the checks use.
    pub fn latest(&self) -> Result<&'static str, Why> {
        ["1.1.0", "1.0.0", "0.4.0"]
            .into_iter()
            .find(|v| self.supports(v))
            .map_or_else(|| fail(format!("VERSION lists none of 1.1.0, 1.0.0, 0.4.0: {:?}", self.versions)), Ok)
    }

    /// The newest version the runtime driver's libcni (1.1.2) can read results of.
    pub fn runtime_version(&self) -> Result<&'static str, Why> {
        match self.latest()? {
            "1.1.0" if self.supports("1.0.0") => Ok("1.0.0"),
            "1.1.0" => skip("libcni 1.1.2 cannot read 1.1.0 results and the plugin lacks 1.0.0"),
            v => Ok(v),
        }
    }

    pub fn is_ipam(&self) -> bool {
        self.profile.kind == Kind::Ipam
    }

    pub fn is_chained(&self) -> bool {
        self.profile.kind == Kind::Chained
    }

    pub fn is_loopback(&self) -> bool {
        self.profile.kind == Kind::Loopback
    }

    /// A new pod in `lab`. A loopback pod's `lo` starts down, as in a netns a
    /// runtime just created: bringing it up is the plugin's job. (Other pods
    /// get theirs up, as the runtime's loopback network would have left it.)
    pub fn add_pod(&self, lab: &mut Lab) -> usize {
        let p = lab.add_pod();
        if self.is_loopback() {
            lab.pod(p).ip(&["link", "set", "lo", "down"]).unwrap_or_else(|e| panic!("{e}"));
        }
        p
    }

    /// A fresh lab with the host side prepared, or a skip when the kernel
    /// cannot host this type.
    pub fn lab(&self) -> Result<Lab, Why> {
        let node_ns = self.profile.vfs || cluster_ipam::runs_in_node_ns(self.profile);
        let mut lab = if node_ns { Lab::in_current_ns(&self.cni_path) } else { Lab::new(&self.cni_path) };
        self.profile.prepare(&mut lab).map_err(|e| Why::Fail(format!("preparing the host: {e}")))?;
        if let Some(why) = self.profile.kernel_lacks(&lab) {
            return skip(why);
        }
        Ok(lab)
    }

    /// The addresses the lab's networks hold (address → what records it):
    /// host-local's reservations, or cluster-ipam's allocation records in etcd.
    pub fn reservations(&self, lab: &Lab) -> BTreeMap<String, String> {
        if cluster_ipam::is(self.profile) { cluster_ipam::records(lab, None) } else { lab.reservations() }
    }

    /// The addresses pod `pod`'s container holds, as [`Target::reservations`] finds them.
    pub fn held_by(&self, lab: &Lab, pod: usize) -> Vec<String> {
        if cluster_ipam::is(self.profile) {
            cluster_ipam::records(lab, Some(&lab.cid(pod))).into_keys().collect()
        } else {
            lab.held_by(pod)
        }
    }

    /// The config of network `net` as a runtime sends it on stdin.
    pub fn conf(&self, lab: &Lab, version: &str, net: usize) -> Value {
        let mut c = lab.plugin_conf(version, self.profile.plugin(lab, net));
        if net > 0 {
            c["name"] = json!(format!("{}-{net}", lab.net));
        }
        c
    }

    /// Runs the plugin in the lab's host namespace.
    pub fn exec(&self, lab: &Lab, inv: &Invocation) -> testkit::Outcome {
        lab.exec_plugin(&self.plugin, &inv.clone().set("CNI_PATH", &self.cni_path))
    }

    /// Network `net`'s plugin list for a conflist: the prelude of a chained
    /// type, then the plugin.
    pub fn plugins(&self, lab: &Lab, net: usize) -> Vec<Value> {
        self.profile.prelude(lab, net).into_iter().chain([self.profile.plugin(lab, net)]).collect()
    }

    /// An attachment verb for pod `pod`'s `eth0`, with `conf` on stdin.
    pub fn verb(&self, lab: &Lab, command: &str, pod: usize, conf: &Value) -> testkit::Outcome {
        self.verb_args(lab, command, pod, conf, None)
    }

    /// [`Target::verb`] with `CNI_ARGS`. Pods other than 0 get their own
    /// device (as a device plugin allocates one per pod); a chained type's
    /// ADD gets the prelude's result as `prevResult` unless `conf` has one.
    pub fn verb_args(
        &self,
        lab: &Lab,
        command: &str,
        pod: usize,
        conf: &Value,
        args: Option<&str>,
    ) -> testkit::Outcome {
        let mut conf = conf.clone();
        if pod > 0
            && conf.get("deviceID").is_some()
            && let Some(dev) = lab.devices.get(pod)
        {
            conf["deviceID"] = json!(dev);
        }
        if self.is_chained() && command == "ADD" {
            let prev = self.prev_result(lab, pod, &conf).unwrap_or_else(|e| panic!("the prelude's ADD: {e}"));
            if conf.get("prevResult").is_none() {
                conf["prevResult"] = prev;
            }
        }
        let mut inv = Invocation::attachment_verb(command)
            .attachment(&lab.cid(pod), "eth0")
            .set("CNI_NETNS", &lab.pod(pod).path_str())
            .stdin_json(&conf);
        if let Some(a) = args {
            inv = inv.cni_args(a);
        }
        self.exec(lab, &inv)
    }

    /// Where the prelude's result for pod `pod` is kept between ADD and DEL
    /// (the runtime's cache dir, which footprints leave out).
    fn prelude_record(lab: &Lab, pod: usize) -> std::path::PathBuf {
        lab.cache_dir().join(format!("prelude-{}", lab.cid(pod)))
    }

    /// A chained type's `prevResult` for pod `pod`: the prelude's ADD result
    /// for its `eth0`, from an ADD run now if none ran yet. The prelude speaks
    /// `conf`'s version if it can, else 1.0.0 (whose results are 1.1.0's too).
    pub fn prev_result(&self, lab: &Lab, pod: usize, conf: &Value) -> Result<Value, String> {
        let record = Target::prelude_record(lab, pod);
        if let Ok(saved) = std::fs::read_to_string(&record) {
            let saved: Value = serde_json::from_str(&saved).map_err(|e| e.to_string())?;
            return Ok(saved["result"].clone());
        }
        let want = conf["cniVersion"].as_str().unwrap_or("1.0.0");
        let version = if ["0.3.1", "0.4.0", "1.0.0"].contains(&want) { want } else { "1.0.0" };
        let mut pre = lab.plugin_conf(version, self.profile.prelude(lab, 0).ok_or("not a chained type")?);
        pre["name"] = conf["name"].clone();
        let inv = Invocation::add()
            .attachment(&lab.cid(pod), "eth0")
            .set("CNI_NETNS", &lab.pod(pod).path_str())
            .stdin_json(&pre);
        let mut result = self.exec_prelude(lab, inv)?.check_ok_json()?;
        if want == "1.1.0" {
            result["cniVersion"] = json!(want);
        }
        std::fs::write(&record, json!({ "conf": pre, "result": result }).to_string()).map_err(|e| e.to_string())?;
        Ok(result)
    }

    fn exec_prelude(&self, lab: &Lab, inv: Invocation) -> Result<testkit::Outcome, String> {
        let ty = self.profile.prelude(lab, 0).and_then(|p| p["type"].as_str().map(String::from)).unwrap_or_default();
        let plugin = Binary::find(self.plugin.path().parent().unwrap_or(Path::new(".")), &ty, "the prelude")
            .or_else(|_| Binary::find(Path::new(HELPER_DIR), &ty, "the prelude"))?;
        Ok(lab.exec_plugin(&plugin, &inv.set("CNI_PATH", &self.cni_path)))
    }

    /// The prelude's DEL for pod `pod`, if its ADD ran: what the runtime
    /// runs after the chained plugin's DEL.
    fn prelude_del(&self, lab: &Lab, pod: usize) -> Result<(), Why> {
        let record = Target::prelude_record(lab, pod);
        let Ok(saved) = std::fs::read_to_string(&record) else { return Ok(()) };
        let saved: Value = serde_json::from_str(&saved).unwrap_or_default();
        let inv = Invocation::del()
            .attachment(&lab.cid(pod), "eth0")
            .set("CNI_NETNS", &lab.pod(pod).path_str())
            .stdin_json(&testkit::conf::with_prev_result(&saved["conf"], &saved["result"]));
        let out = self.exec_prelude(lab, inv).map_err(Why::Fail)?;
        out.check_ok_silent().or_else(|e| fail(format!("the prelude's DEL: {e}")))?;
        let _ = std::fs::remove_file(record);
        Ok(())
    }

    /// ADD for pod `pod` that must succeed: its result.
    pub fn add(&self, lab: &Lab, pod: usize, conf: &Value) -> Result<Value, Why> {
        let out = self.verb(lab, "ADD", pod, conf);
        out.check_ok_json().or_else(|e| fail(format!("ADD failed: {e}")))
    }

    /// DEL (with `prev` as prevResult, if given) that must succeed.
    pub fn del(&self, lab: &Lab, pod: usize, conf: &Value, prev: Option<&Value>) -> Result<(), Why> {
        let stdin = match prev {
            Some(p) => testkit::conf::with_prev_result(conf, p),
            None => conf.clone(),
        };
        let done = self.verb(lab, "DEL", pod, &stdin).check_ok_silent().or_else(|e| fail(format!("DEL failed: {e}")));
        // The prelude's DEL runs whatever the plugin's did; the plugin's failure is reported first.
        let prelude = if self.is_chained() { self.prelude_del(lab, pod) } else { Ok(()) };
        done.and(prelude)
    }
}

/// A failed run: non-zero exit and a CNI error object on stdout with
/// `code` (the one wanted, if given) and a non-empty `msg`.
pub fn expect_error(out: &testkit::Outcome, code: Option<u64>) -> Result<Value, Why> {
    if out.success() {
        return fail(format!(
            "succeeded; expected an error{}",
            code.map(|c| format!(" with code {c}")).unwrap_or_default()
        ));
    }
    let Ok(err) = out.json() else {
        return fail(format!("exit {:?} without an error object on stdout: {:?}", out.exit_code, out.stdout_str()));
    };
    let got = err["code"].as_u64();
    if got.is_none() || err["msg"].as_str().is_none_or(str::is_empty) {
        return fail(format!("error object lacks a numeric code or a msg: {err}"));
    }
    if code.is_some() && got != code {
        return fail(format!("code {} (msg {:?}); expected {}", got.unwrap_or(0), err["msg"], code.unwrap_or(0)));
    }
    Ok(err)
}
