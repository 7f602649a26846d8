//! Faults a node really sees, and the proof that nothing leaks after them.
//!
//! - Kill in the middle: ADD is SIGKILLed right after its Nth kernel or disk
//!   step (`RAILCNI_FAULT_AFTER=N`, honoured by debug builds only; see
//!   `cni::fault`), then DEL runs as a runtime would: with or without
//!   `prevResult`, with the netns or after it is gone, once or repeated.
//!   Afterwards the node must look exactly as before (links, addresses,
//!   routes in every table, rules, nftables, store and state files, a VF as
//!   it was) and a new ADD of the same attachment must work. Every step is
//!   tried once, then random ones up to `RAILCNI_KILL_POINTS` per plugin
//!   (default 200, on the host and in the VM).
//!   bridge, macvlan, sbr and loopback run on the host; vlan, ipvlan and
//!   sriov in the VM stage (tests named `vm_*`).
//! - A chain whose next plugin fails after ours succeeded, DEL of the chain.
//! - The netns deleted during ADD or between ADD and DEL.
//! - Store faults: a full disk, a read-only dataDir, corrupt files, the lock
//!   of a killed process.
//!
//! Randomized tests print their seed; `CONFORMANCE_SEED=<n>` replays one.

use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use testkit::binary::{our_cni_path, ours_then_reference};
use testkit::conf;
use testkit::driver::Lib;
use testkit::footprint::{host_facts, pod_leftovers, state_files, store_leftovers};
use testkit::lab::Lab;
use testkit::lab::macvlan::MacvlanLab;
use testkit::lab::sriov::SriovLab;
use testkit::netns::{Namespace, skip_without_root};
use testkit::rng::Rng;
use testkit::rofs::ReadOnlyMount;
use testkit::{Binary, DataDir, Invocation, Outcome};

const V: &str = "1.0.0";
const FAULT_ENV: &str = "RAILCNI_FAULT_AFTER";
/// No run has this many steps: the ADD completes, and its stderr lists every step.
const NEVER: &str = "1000000";
/// A plugin that hangs fails the test instead of CI.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Kill points per plugin: `RAILCNI_KILL_POINTS`, else `default` (200 on
/// the host; fewer in the VM, where one costs seconds: see the tests).
fn kill_points(default: usize) -> usize {
    std::env::var("RAILCNI_KILL_POINTS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The host's count, as issue 9 asks.
const HOST_KILL_POINTS: usize = 200;

/// Steps a run went through, from the lines `cni::fault` logs.
fn steps(out: &Outcome) -> usize {
    out.stderr_str().lines().filter(|l| l.starts_with("railcni fault step ")).count()
}

fn killed(out: &Outcome) -> bool {
    out.signal == Some(9)
}

/// One plugin set up for kill points: how the runtime calls it, and what
/// it may leave behind.
trait Target {
    fn name(&self) -> String;
    /// The pod the next ADD goes into.
    fn pod(&self) -> &Namespace;
    /// A pod namespace that exists (with whatever ADD needs in it), for the next ADD.
    fn live_pod(&mut self);
    fn add(&self, fault_after: &str) -> Outcome;
    fn del(&self, netns: &str, prev: Option<&Value>) -> Outcome;
    /// Facts outside the pod that no attachment may change.
    fn node(&self) -> Vec<String>;
    /// What attachments left in the pod and in state directories.
    fn leftovers(&self) -> Vec<String>;
    /// Before a killed ADD.
    fn before_add(&mut self, _rng: &mut Rng) {}
    /// After this plugin's DEL: the rest of the chain's DEL, if it has one.
    fn after_del(&mut self) {}
    /// The fewest steps a plain ADD takes; fewer means the fault hook is off (a release build).
    fn fewest_steps(&self) -> usize {
        6
    }
}

/// Everything an attachment may have left: `Err` lists it. A deleted netns
/// is torn down by a kernel worker after the last process holding it exits
/// (the host end of a veth and a VF come back with it): wait up to 5 s for that.
fn leftovers(t: &impl Target, baseline: &[String]) -> Result<(), String> {
    let mut found = leftovers_now(t, baseline);
    for _ in 0..50 {
        if found.is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        found = leftovers_now(t, baseline);
    }
    found
}

fn leftovers_now(t: &impl Target, baseline: &[String]) -> Result<(), String> {
    let mut bad = Vec::new();
    let node = t.node();
    bad.extend(node.iter().filter(|f| !baseline.contains(f)).map(|f| format!("node: {f}")));
    bad.extend(baseline.iter().filter(|f| !node.contains(f)).map(|f| format!("node lost: {f}")));
    bad.extend(t.leftovers());
    if bad.is_empty() { Ok(()) } else { Err(bad.join("\n  ")) }
}

/// A full ADD and DEL; the number of steps of the ADD.
fn clean_cycle(t: &mut impl Target, baseline: &[String]) -> Result<usize, String> {
    t.live_pod();
    let add = t.add(NEVER);
    let prev = add.check_ok_json()?;
    let ns = t.pod().path_str();
    t.del(&ns, Some(&prev)).check_ok()?;
    t.after_del();
    leftovers(t, baseline).map_err(|e| format!("after a clean ADD+DEL:\n  {e}"))?;
    Ok(steps(&add))
}

/// ADD killed after step `n`, DEL as the runtime would, then the checks.
fn kill_at(t: &mut impl Target, n: usize, rng: &mut Rng, prev: &Value, baseline: &[String]) -> Result<String, String> {
    t.live_pod();
    t.before_add(rng);
    let add = t.add(&n.to_string());
    if !killed(&add) {
        // Fewer steps this time (the bridge existed): the ADD must simply have worked.
        add.check_ok_json().map_err(|e| format!("ADD not killed at {n} and failed: {e}"))?;
    }
    let with_prev = rng.coin();
    let gone = rng.below(3) == 0;
    let mut netns = t.pod().path_str();
    if gone {
        t.pod().delete()?;
        if rng.coin() {
            netns = String::new();
        }
    }
    let times = 1 + rng.below(3);
    let what = format!("kill after step {n}, DEL x{times} prevResult={with_prev} netns gone={gone} ({netns:?})");
    for _ in 0..times {
        t.del(&netns, with_prev.then_some(prev)).check_ok().map_err(|e| format!("{what}: DEL: {e}"))?;
    }
    t.after_del();
    leftovers(t, baseline).map_err(|e| format!("{what}: left behind:\n  {e}"))?;
    clean_cycle(t, baseline).map_err(|e| format!("{what}: the next ADD: {e}"))?;
    Ok(what)
}

/// The kill-point run for one plugin (`wanted` points at least, every step
/// once); panics with every failure found.
fn kill_everywhere(mut t: impl Target, wanted: usize) {
    let (mut rng, seed) = Rng::from_env();
    let name = t.name();
    eprintln!("{name}: seed {seed}");
    // The first ADD creates the bridge; the baseline is the node after it.
    clean_cycle(&mut t, &[]).ok();
    let baseline = t.node();
    t.live_pod();
    let first = t.add(NEVER);
    let prev = first.check_ok_json().unwrap_or_else(|e| panic!("{e}"));
    let total = steps(&first);
    t.del(&t.pod().path_str(), Some(&prev)).assert_ok();
    t.after_del();
    if let Err(e) = leftovers(&t, &baseline) {
        panic!("a plain ADD+DEL leaves state behind:\n  {e}");
    }
    assert!(
        total >= t.fewest_steps(),
        "the fault hook saw only {total} steps: is this a debug build?\n{}",
        first.describe()
    );
    let wanted = wanted.max(total);
    let mut failures = Vec::new();
    let start = std::time::Instant::now();
    let mut tried = 0;
    for i in 0..wanted {
        tried += 1;
        // Every step once, then random ones.
        let n = if i < total { i + 1 } else { 1 + rng.below(total as u64) as usize };
        if let Err(e) = kill_at(&mut t, n, &mut rng, &prev, &baseline) {
            failures.push(e);
        }
        if failures.len() >= 5 {
            break;
        }
    }
    let per_kill = start.elapsed() / tried;
    // Straight to fd 2, past the test harness's capture: the VM runner shows it.
    let _ = writeln!(
        std::io::stderr(),
        "{name}: {total} steps per ADD, {tried} kill points, {} failures, {per_kill:?} per kill point",
        failures.len()
    );
    assert!(failures.is_empty(), "seed {seed}:\n{}", failures.join("\n"));
}

/// The kill-point run of a host test (root only): the target is made after the check.
fn on_the_host<T: Target>(make: impl FnOnce() -> T) {
    if !skip_without_root("the fault tests") {
        kill_everywhere(make(), kill_points(HOST_KILL_POINTS));
    }
}

/// One interface plugin in a lab (its "host" namespace), and what must
/// never change around a fault.
struct Rig {
    lab: Lab,
    plugin: Binary,
    conf: Value,
    /// Host links that outlive attachments (the bridge).
    shared: Vec<String>,
    /// A state directory whose files belong to attachments (ipvlan's `stateDir`).
    state_dir: Option<PathBuf>,
    /// The pod the next ADD goes into.
    pod: usize,
    /// The plugin is loopback: the pod's lo is what it changes.
    loopback: bool,
}

impl Rig {
    fn bridge() -> Rig {
        let lab = Lab::ours("bridge");
        let ipam = lab.host_local(json!([[{ "subnet": "10.91.0.0/24" }], [{ "subnet": "fd91::/64" }]]));
        let obj = lab.bridge_plugin(json!({ "isGateway": true, "ipMasq": true }), ipam);
        let conf = lab.plugin_conf(V, obj);
        let shared = vec![lab.bridge.clone()];
        Rig::new(lab, "bridge", conf, shared)
    }

    fn macvlan() -> Rig {
        let ml = MacvlanLab::new(&our_cni_path(&["macvlan", "host-local"]));
        let ipam = ml.host_local(json!([[{ "subnet": "10.92.0.0/24" }]]));
        let conf = ml.plugin_conf(V, ml.macvlan_plugin(json!({}), ipam));
        Rig::new(ml.into_lab(), "macvlan", conf, Vec::new())
    }

    /// ptp, dual stack, with masquerading (host routes, a gateway /32 on the
    /// host end, nftables rules: all must go).
    fn ptp() -> Rig {
        let lab = Lab::ours("ptp");
        let ipam = lab.host_local(json!([[{ "subnet": "10.71.0.0/24" }], [{ "subnet": "fd71::/64" }]]));
        let obj = testkit::lab::plugin_object(json!({ "type": "ptp", "ipMasq": true }), json!({}), ipam);
        let conf = lab.plugin_conf(V, obj);
        Rig::new(lab, "ptp", conf, Vec::new())
    }

    /// tap, multi-queue, with an owner, a MAC and host-local's address.
    fn tap() -> Rig {
        let lab = Lab::ours("tap");
        let ipam = lab.host_local(json!([[{ "subnet": "10.72.0.0/24" }]]));
        let keys = json!({ "multiQueue": true, "owner": 1000, "mac": "02:00:00:00:72:01" });
        let obj = testkit::lab::plugin_object(json!({ "type": "tap" }), keys, ipam);
        let conf = lab.plugin_conf(V, obj);
        Rig::new(lab, "tap", conf, Vec::new())
    }

    /// vlan over a veth in the host namespace (802.1q: the VM stage only).
    fn vlan() -> Rig {
        let lab = Lab::new(&our_cni_path(&["vlan", "host-local"]));
        testkit::lab::macvlan::add_veth_master(&lab.host, "vmaster", "vpeer").unwrap_or_else(|e| panic!("{e}"));
        let ipam = lab.host_local(json!([[{ "subnet": "10.90.0.0/24" }]]));
        let obj = json!({ "type": "vlan", "master": "vmaster", "vlanId": 100, "ipam": ipam });
        let conf = lab.plugin_conf(V, obj);
        Rig::new(lab, "vlan", conf, Vec::new())
    }

    /// ipvlan over a veth master (the VM stage only), with policy routing
    /// (rail 0 of `eth0`: table 1000, rules at 1000) and the port records.
    fn ipvlan() -> Rig {
        let ml = MacvlanLab::of_kind("ipvlan", &our_cni_path(&["ipvlan", "host-local"]));
        let state_dir = ml.tmp().join("ipvlan-state");
        let ipam = ml.host_local(json!([[{ "subnet": "10.89.0.0/24" }], [{ "subnet": "fd89::/64" }]]));
        let keys = json!({ "mode": "l2", "stateDir": state_dir, "policyRouting": { "oifRule": true } });
        let conf = ml.plugin_conf(V, ml.macvlan_plugin(keys, ipam));
        let mut rig = Rig::new(ml.into_lab(), "ipvlan", conf, Vec::new());
        rig.state_dir = Some(state_dir);
        rig
    }

    /// loopback alone, on pods whose lo starts down as in a netns the
    /// runtime just made. It touches nothing but the pod's lo, so after DEL
    /// the pod must be as a fresh one is after a DEL: lo down, no address on
    /// it but the kernel's 127.0.0.1/8 (which stays once lo has been up).
    fn loopback() -> Rig {
        let lab = Lab::new(&our_cni_path(&["loopback"]));
        let conf = json!({ "cniVersion": V, "name": lab.net, "type": "loopback" });
        let mut rig = Rig::new(lab, "loopback", conf, Vec::new());
        rig.loopback = true;
        rig.lo_down();
        rig
    }

    fn new(mut lab: Lab, plugin: &str, conf: Value, shared: Vec<String>) -> Rig {
        let pod = lab.add_pod();
        Rig { lab, plugin: Binary::ours(plugin), conf, shared, state_dir: None, pod, loopback: false }
    }

    /// The current pod's lo down, as a runtime's fresh netns has it.
    fn lo_down(&self) {
        self.pod().ip(&["link", "set", "lo", "down"]).unwrap_or_else(|e| panic!("{e}"));
    }

    /// What loopback may have left on the pod's lo.
    fn lo_leftovers(&self) -> Vec<String> {
        let pod = self.pod();
        if !pod.exists() {
            return Vec::new(); // its lo went with it
        }
        let mut bad: Vec<String> =
            pod.link("lo").filter(|l| l.admin_up()).map(|_| "pod: lo is up".into()).into_iter().collect();
        let kernels = |cidr: &str| cidr == "127.0.0.1/8";
        bad.extend(
            pod.addrs(Some("lo")).into_iter().filter(|a| !kernels(&a.cidr)).map(|a| format!("pod: lo has {}", a.cidr)),
        );
        bad
    }

    fn inv(&self, verb: Invocation, netns: &str, stdin: &Value) -> Invocation {
        verb.attachment(&self.lab.cid(0), "eth0").set("CNI_NETNS", netns).stdin_json(stdin).timeout(TIMEOUT)
    }
}

impl Target for Rig {
    fn name(&self) -> String {
        self.plugin.name().to_string()
    }

    fn pod(&self) -> &Namespace {
        self.lab.pod(self.pod)
    }

    fn live_pod(&mut self) {
        if !self.lab.pod(self.pod).exists() {
            self.pod = self.lab.add_pod();
            if self.loopback {
                self.lo_down();
            }
        }
    }

    fn add(&self, fault_after: &str) -> Outcome {
        let ns = self.pod().path_str();
        self.lab.exec_plugin(&self.plugin, &self.inv(Invocation::add(), &ns, &self.conf).set(FAULT_ENV, fault_after))
    }

    fn del(&self, netns: &str, prev: Option<&Value>) -> Outcome {
        let stdin = prev.map_or(self.conf.clone(), |p| conf::with_prev_result(&self.conf, p));
        self.lab.exec_plugin(&self.plugin, &self.inv(Invocation::del(), netns, &stdin))
    }

    fn node(&self) -> Vec<String> {
        let shared: Vec<&str> = self.shared.iter().map(String::as_str).collect();
        host_facts(&self.lab.host, &shared)
    }

    fn leftovers(&self) -> Vec<String> {
        let mut bad: Vec<String> = pod_leftovers(self.pod()).into_iter().map(|f| format!("pod: {f}")).collect();
        let net_dir = self.lab.ipam_dir().join(&self.lab.net);
        bad.extend(store_leftovers(&net_dir).into_iter().map(|f| format!("store: {f}")));
        if let Some(dir) = &self.state_dir {
            bad.extend(state_files(dir).into_iter().map(|f| format!("stateDir: {f}")));
        }
        if self.loopback {
            bad.extend(self.lo_leftovers());
        }
        bad
    }

    /// loopback: look up lo, bring it up, list its addresses.
    fn fewest_steps(&self) -> usize {
        if self.loopback { 3 } else { 6 }
    }

    /// The bridge may not exist yet: the first ADD on a node creates it.
    fn before_add(&mut self, rng: &mut Rng) {
        if !self.shared.is_empty() && rng.below(4) == 0 {
            let _ = self.lab.host.ip(&["link", "del", &self.lab.bridge]);
        }
    }
}

#[test]
fn tap_add_killed_at_every_step_leaves_nothing_after_del() {
    on_the_host(Rig::tap);
}

#[test]
fn bridge_add_killed_at_every_step_leaves_nothing_after_del() {
    on_the_host(Rig::bridge);
}

#[test]
fn macvlan_add_killed_at_every_step_leaves_nothing_after_del() {
    on_the_host(Rig::macvlan);
}

#[test]
fn ptp_add_killed_at_every_step_leaves_nothing_after_del() {
    on_the_host(Rig::ptp);
}

// The VM-stage kill points share the prefix `vm_` (`faults:vm_` in
// conformance/test.sh). TCG makes each one cost seconds there; the counts
// keep the stage's growth to a few minutes (README "Reliability").

#[test]
#[ignore = "VM stage"]
fn vm_vlan_add_killed_at_every_step_leaves_nothing_after_del() {
    kill_everywhere(Rig::vlan(), kill_points(HOST_KILL_POINTS));
}

#[test]
#[ignore = "VM stage"]
fn vm_ipvlan_add_killed_at_every_step_leaves_nothing_after_del() {
    kill_everywhere(Rig::ipvlan(), kill_points(VM_KILL_POINTS));
}

#[test]
#[ignore = "VM stage"]
fn vm_sriov_add_killed_at_every_step_restores_the_vf_after_del() {
    kill_everywhere(SriovRig::new(), kill_points(VM_KILL_POINTS));
}

/// The VM's count for ipvlan and sriov, as on the host: each step once (44
/// and 43 steps), then random ones up to 200. Under TCG a kill point costs
/// 0.9-1.2 s for ipvlan and 1.0-3.2 s for sriov (a VF move and restore
/// each; the high figures with the host busy), so the two take 7-15 min of
/// the VM stage, which CI's 90 minutes afford.
const VM_KILL_POINTS: usize = 200;

// ---- sriov: a VF of the VM's igb ---------------------------------------------

/// One VF with MAC, vlan, spoofchk, trust and MTU set (igb refuses
/// `link_state`) and policy routing (`net1`: table 1001), run in the PF's
/// namespace as a runtime does. The node facts are the VF as the PF and
/// this namespace see it (netns, name, MAC, MTU, flags, vlan, spoofchk,
/// trust, link state).
struct SriovRig {
    lab: SriovLab,
    conf: Value,
    pod: usize,
}

impl SriovRig {
    fn new() -> SriovRig {
        let mut lab = SriovLab::new(1);
        let keys = json!({
            "mac": "02:5a:00:00:09:01", "vlan": 209, "spoofchk": "off", "trust": "on",
            "mtu": 1400, "policyRouting": { "oifRule": true },
        });
        let conf = lab.conf(0, keys, Some("10.88.9.0/24"));
        let pod = lab.add_pod();
        SriovRig { lab, conf, pod }
    }

    fn call(&self, verb: Invocation, netns: &str, stdin: &Value) -> Outcome {
        let inv = verb.attachment(&self.lab.cid(0), "net1").set("CNI_NETNS", netns).stdin_json(stdin);
        Binary::ours("sriov").call(&inv.timeout(TIMEOUT))
    }
}

impl Target for SriovRig {
    fn name(&self) -> String {
        "sriov".to_string()
    }

    fn pod(&self) -> &Namespace {
        self.lab.pod(self.pod)
    }

    fn live_pod(&mut self) {
        if !self.pod().exists() {
            self.pod = self.lab.add_pod();
        }
    }

    fn add(&self, fault_after: &str) -> Outcome {
        self.call(Invocation::add().set(FAULT_ENV, fault_after), &self.pod().path_str(), &self.conf)
    }

    fn del(&self, netns: &str, prev: Option<&Value>) -> Outcome {
        let stdin = prev.map_or(self.conf.clone(), |p| conf::with_prev_result(&self.conf, p));
        self.call(Invocation::del(), netns, &stdin)
    }

    fn node(&self) -> Vec<String> {
        self.lab.snapshot(0).lines().map(String::from).collect()
    }

    fn leftovers(&self) -> Vec<String> {
        let mut bad: Vec<String> = pod_leftovers(self.pod()).into_iter().map(|f| format!("pod: {f}")).collect();
        let net_dir = self.lab.ipam_dir().join(&self.lab.net);
        bad.extend(store_leftovers(&net_dir).into_iter().map(|f| format!("store: {f}")));
        bad.extend(state_files(&self.lab.data_dir()).into_iter().map(|f| format!("dataDir: {f}")));
        bad
    }
}

// ---- sbr: chained after an interface ------------------------------------------

/// A meta plugin (sbr, tuning) chained after an interface some other
/// plugin made (a veth end in the pod with IPv4 and IPv6 addresses and a
/// routed subnet, as in tests/sbr.rs), with its prevResult. The runtime
/// DELs the chain in reverse: sbr, then the interface plugin, which
/// deletes the interface ([`Target::after_del`]). Rules outlive
/// interfaces, so they are sbr's leak to catch; every table must be empty
/// too.
struct ChainRig {
    lab: Lab,
    plugin: Binary,
    conf: Value,
    /// The interface plugin's result: the chained plugin's ADD input.
    iface: Value,
    pod: usize,
    /// For tuning, which leaves the interface to the interface plugin's DEL.
    tuned: Option<Tuned>,
}

/// tuning's state directory, and the pod right after the interface was made.
struct Tuned {
    data_dir: PathBuf,
    made: Vec<String>,
}

const SBR_IF: &str = "net1";

impl ChainRig {
    fn new(plugin: &str) -> ChainRig {
        let plugin = Binary::ours(plugin);
        let mut lab = Lab::new(&plugin.dir().display().to_string());
        let pod = lab.add_pod();
        let conf = json!({ "cniVersion": V, "name": lab.net, "type": plugin.name() });
        let iface = json!({
            "cniVersion": V,
            "interfaces": [{ "name": SBR_IF, "sandbox": lab.pod(pod).path_str() }],
            "ips": [
                { "interface": 0, "address": "10.86.0.5/24", "gateway": "10.86.0.1" },
                { "interface": 0, "address": "fd86::5/64", "gateway": "fd86::1" },
            ],
            "routes": [{ "dst": "172.26.0.0/16", "gw": "10.86.0.1" }],
        });
        ChainRig { lab, plugin, conf, iface, pod, tuned: None }
    }

    /// What tuning's DEL must restore: the pod's facts, the sysctls and the MAC.
    fn pod_state(&self) -> Vec<String> {
        let pod = self.pod();
        let mut state = pod_leftovers(pod);
        for key in TUNED_SYSCTLS {
            state.push(format!("sysctl {key}={}", pod.sysctl(key).unwrap_or_else(|e| e)));
        }
        state.push(format!("mac {}", pod.link(SBR_IF).map(|l| l.mac()).unwrap_or_default()));
        state
    }

    /// What the interface plugin's ADD makes, with `ip`.
    fn make_interface(&self) -> Result<(), String> {
        let pod = self.pod();
        self.lab.host.ip(&["link", "add", "h1", "type", "veth", "peer", "name", SBR_IF, "netns", pod.name()])?;
        pod.ip(&["addr", "add", "10.86.0.5/24", "dev", SBR_IF])?;
        pod.ip(&["addr", "add", "fd86::5/64", "dev", SBR_IF, "nodad"])?;
        pod.ip(&["link", "set", SBR_IF, "up"])?;
        self.lab.host.ip(&["link", "set", "h1", "up"])?;
        pod.ip(&["route", "add", "172.26.0.0/16", "via", "10.86.0.1", "dev", SBR_IF])?;
        Ok(())
    }

    fn call(&self, verb: Invocation, netns: &str, stdin: &Value) -> Outcome {
        let inv = verb.attachment(&self.lab.cid(0), SBR_IF).set("CNI_NETNS", netns).stdin_json(stdin);
        self.lab.exec_plugin(&self.plugin, &inv.timeout(TIMEOUT))
    }
}

impl Target for ChainRig {
    fn name(&self) -> String {
        self.plugin.name().to_string()
    }

    fn pod(&self) -> &Namespace {
        self.lab.pod(self.pod)
    }

    /// The pod, and the interface in it (the previous pod's went with it).
    fn live_pod(&mut self) {
        if !self.pod().exists() {
            self.pod = self.lab.add_pod();
            self.iface["interfaces"][0]["sandbox"] = json!(self.pod().path_str());
        }
        if self.pod().link(SBR_IF).is_none() {
            let _ = self.lab.host.ip(&["link", "del", "h1"]);
            self.make_interface().unwrap_or_else(|e| panic!("{e}"));
            let made = self.tuned.is_some().then(|| self.pod_state());
            if let (Some(tuned), Some(made)) = (&mut self.tuned, made) {
                tuned.made = made;
            }
        }
    }

    fn add(&self, fault_after: &str) -> Outcome {
        let stdin = conf::with_prev_result(&self.conf, &self.iface);
        self.call(Invocation::add().set(FAULT_ENV, fault_after), &self.pod().path_str(), &stdin)
    }

    fn del(&self, netns: &str, prev: Option<&Value>) -> Outcome {
        let stdin = prev.map_or(self.conf.clone(), |p| conf::with_prev_result(&self.conf, p));
        self.call(Invocation::del(), netns, &stdin)
    }

    /// The interface's host end `h1` belongs to the interface plugin (it
    /// dies with a deleted netns, and is made again with the interface).
    fn node(&self) -> Vec<String> {
        host_facts(&self.lab.host, &["h1"])
    }

    /// sbr: the pod is empty (its rules and table routes outlive the
    /// interface). tuning: the pod is as the interface plugin made it.
    fn leftovers(&self) -> Vec<String> {
        let Some(tuned) = &self.tuned else {
            return pod_leftovers(self.pod()).into_iter().map(|f| format!("pod: {f}")).collect();
        };
        let mut bad: Vec<String> = state_files(&tuned.data_dir).into_iter().map(|f| format!("dataDir: {f}")).collect();
        if self.pod().exists() && self.pod().link(SBR_IF).is_some() {
            let now = self.pod_state();
            bad.extend(now.iter().filter(|f| !tuned.made.contains(f)).map(|f| format!("pod changed: {f}")));
            bad.extend(tuned.made.iter().filter(|f| !now.contains(f)).map(|f| format!("pod lost: {f}")));
        }
        bad
    }

    /// The interface plugin's DEL, after sbr's (tuning's check needs the interface: it stays).
    fn after_del(&mut self) {
        if self.tuned.is_none() && self.pod().exists() {
            let _ = self.pod().ip(&["link", "del", SBR_IF]);
        }
    }
}

#[test]
fn sbr_add_killed_at_every_step_leaves_no_rule_or_table_after_del() {
    on_the_host(|| ChainRig::new("sbr"));
}

// ---- bandwidth: qdiscs on the host end of a chained veth, and an ifb ---------------

/// bandwidth chained after [`ChainRig`]'s veth (`h1` on the host, `net1` in
/// the pod), 10 Mbit/s each way. The interface stays across DELs, as the
/// interface plugin's DEL is not part of this run: after bandwidth's DEL
/// `h1` must have no tbf and no ingress qdisc, and the host no ifb (any new
/// link is in the node facts).
struct BandwidthRig(ChainRig);

impl BandwidthRig {
    fn new() -> BandwidthRig {
        let mut chain = ChainRig::new("bandwidth");
        for (k, v) in
            [("ingressRate", 10_000_000), ("ingressBurst", 80_000), ("egressRate", 10_000_000), ("egressBurst", 80_000)]
        {
            chain.conf[k] = json!(v);
        }
        BandwidthRig(chain)
    }

    /// The same with `unshapedSubnets`: an htb tree, classes and filters on both devices.
    fn with_subnets() -> BandwidthRig {
        let mut rig = BandwidthRig::new();
        rig.0.conf["unshapedSubnets"] = json!(["10.86.0.0/24", "fd86::/64"]);
        rig
    }
}

impl Target for BandwidthRig {
    fn name(&self) -> String {
        self.0.name()
    }

    fn pod(&self) -> &Namespace {
        self.0.pod()
    }

    fn live_pod(&mut self) {
        self.0.live_pod()
    }

    fn add(&self, fault_after: &str) -> Outcome {
        self.0.add(fault_after)
    }

    fn del(&self, netns: &str, prev: Option<&Value>) -> Outcome {
        self.0.del(netns, prev)
    }

    fn node(&self) -> Vec<String> {
        self.0.node()
    }

    fn leftovers(&self) -> Vec<String> {
        let host = &self.0.lab.host;
        if host.link("h1").is_none() {
            return Vec::new(); // it went with a deleted pod, and its qdiscs with it
        }
        let out = host.exec(&["tc", "qdisc", "show", "dev", "h1"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("tbf") || l.contains("htb") || l.contains("ingress"))
            .map(|l| format!("host: {l}"))
            .collect()
    }
}

#[test]
fn bandwidth_add_killed_at_every_step_leaves_no_qdisc_or_ifb_after_del() {
    on_the_host(BandwidthRig::new);
}

#[test]
fn bandwidth_with_subnets_add_killed_at_every_step_leaves_no_qdisc_or_ifb_after_del() {
    on_the_host(BandwidthRig::with_subnets);
}

// ---- host-device: a veth end of the host moved into the pod ---------------------

/// host-device with a veth end (`hdev0`, MTU 1450, up) as the device, its
/// records in the lab. The node facts include the device: after DEL it must
/// be back with its name, MTU and state. A veth dies with its netns, so
/// after a DEL with the netns gone the pair is made again, as it was.
struct HostDeviceRig {
    rig: Rig,
    data_dir: PathBuf,
}

const HD_DEVICE: &str = "hdev0";
const HD_PEER: &str = "hpeer0";

impl HostDeviceRig {
    fn new() -> HostDeviceRig {
        let lab = Lab::new(&our_cni_path(&["host-device", "host-local"]));
        let data_dir = lab.tmp().join("host-device");
        let ipam = lab.host_local(json!([[{ "subnet": "10.70.0.0/24" }]]));
        let keys = json!({ "type": "host-device", "device": HD_DEVICE, "dataDir": data_dir });
        let conf = lab.plugin_conf(V, testkit::lab::plugin_object(keys, json!({}), ipam));
        let rig = HostDeviceRig { rig: Rig::new(lab, "host-device", conf, Vec::new()), data_dir };
        rig.make_device();
        rig
    }

    /// The device pair, unless it is there (on the host, or in the pod).
    fn make_device(&self) {
        let host = &self.rig.lab.host;
        if host.link(HD_PEER).is_some() {
            return;
        }
        let made = host
            .ip(&["link", "add", HD_DEVICE, "mtu", "1450", "type", "veth", "peer", "name", HD_PEER, "mtu", "1450"])
            .and_then(|_| host.ip(&["link", "set", HD_DEVICE, "up"]))
            .and_then(|_| host.ip(&["link", "set", HD_PEER, "up"]));
        made.unwrap_or_else(|e| panic!("{e}"));
    }
}

impl Target for HostDeviceRig {
    fn name(&self) -> String {
        "host-device".to_string()
    }

    fn pod(&self) -> &Namespace {
        self.rig.pod()
    }

    fn live_pod(&mut self) {
        self.rig.live_pod();
        self.make_device();
    }

    fn add(&self, fault_after: &str) -> Outcome {
        self.rig.add(fault_after)
    }

    fn del(&self, netns: &str, prev: Option<&Value>) -> Outcome {
        self.rig.del(netns, prev)
    }

    fn node(&self) -> Vec<String> {
        self.rig.node()
    }

    fn leftovers(&self) -> Vec<String> {
        let mut bad = self.rig.leftovers();
        bad.extend(state_files(&self.data_dir).into_iter().map(|f| format!("dataDir: {f}")));
        bad
    }

    /// A veth end that died with its netns took its peer along: make the pair again.
    fn after_del(&mut self) {
        if self.rig.lab.host.link(HD_DEVICE).is_none() && !self.pod().exists() {
            for _ in 0..50 {
                if self.rig.lab.host.link(HD_PEER).is_none() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            self.make_device();
        }
    }
}

#[test]
fn host_device_add_killed_at_every_step_puts_the_device_back_after_del() {
    on_the_host(HostDeviceRig::new);
}

// ---- tuning: chained after an interface ---------------------------------------

/// What tuning changes in the pod, and so what its DEL must restore.
const TUNED_SYSCTLS: [&str; 2] = ["net/ipv4/conf/net1/arp_ignore", "net/core/somaxconn"];

/// tuning chained after the same interface as sbr, changing a sysctl of
/// the interface, one of the pod, the MAC, MTU, promiscuity, all-multicast
/// and the queue length. After its DEL the pod must be as the interface
/// plugin left it: its facts, the two sysctls and the MAC (which the facts
/// leave out); the interface stays for the next ADD.
fn tuning_rig() -> ChainRig {
    let mut rig = ChainRig::new("tuning");
    let data_dir = rig.lab.tmp().join("tuning");
    let keys = json!({
        "dataDir": data_dir, "mtu": 1400, "txQLen": 77, "promisc": true, "allmulti": true,
        "mac": "c2:00:00:00:07:01",
        "sysctl": { "net.ipv4.conf.IFNAME.arp_ignore": "1", "net.core.somaxconn": "1234" },
    });
    if let (Some(c), Some(k)) = (rig.conf.as_object_mut(), keys.as_object()) {
        c.extend(k.clone());
    }
    rig.tuned = Some(Tuned { data_dir, made: Vec::new() });
    rig
}

#[test]
fn tuning_add_killed_at_every_step_restores_everything_after_del() {
    on_the_host(tuning_rig);
}

// ---- loopback: the pod's lo ----------------------------------------------------

/// Every step once, then random ones: three steps make few distinct kill
/// points, and the random DELs (with or without prevResult, the netns
/// gone, empty or stale, up to three times) are what the extra ones vary.
const LOOPBACK_KILL_POINTS: usize = 24;

#[test]
fn loopback_add_killed_at_every_step_leaves_lo_as_del_finds_it() {
    if skip_without_root("the fault tests") {
        return;
    }
    kill_everywhere(Rig::loopback(), kill_points(LOOPBACK_KILL_POINTS));
}

// ---- host-local on its own -----------------------------------------------

struct Ipam {
    dd: DataDir,
    net: String,
    plugin: Binary,
}

impl Ipam {
    fn new(data_dir: Option<&Path>) -> Ipam {
        let dd = DataDir::new();
        let net = testkit::unique_name("fault");
        let ipam = Ipam { dd, net, plugin: Binary::ours("host-local") };
        if let Some(d) = data_dir {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        ipam
    }

    fn conf(&self, data_dir: Option<&Path>) -> Value {
        conf::host_local_v4(V, &self.net, data_dir.unwrap_or(self.dd.path()), "10.93.0.0/24")
    }

    fn run(&self, inv: Invocation, conf: &Value, cid: &str) -> Outcome {
        self.plugin.call(&inv.attachment(cid, "eth0").stdin_json(conf).timeout(TIMEOUT))
    }
}

/// host-local killed at every store step, with another pod's reservation
/// next to it: DEL releases everything of the victim, and the bystander's
/// reservation is never lost or handed out twice.
#[test]
fn host_local_add_killed_at_every_step_loses_and_leaks_nothing() {
    let ipam = Ipam::new(None);
    let c = ipam.conf(None);
    let (mut rng, seed) = Rng::from_env();
    let by = ipam.run(Invocation::add(), &c, "bystander").assert_ok_json();
    let by_ip = by["ips"][0]["address"].as_str().expect("address").split('/').next().unwrap_or("").to_string();
    let net_dir = ipam.dd.net_dir(&ipam.net);
    let baseline = store_leftovers(&net_dir);
    let first = ipam.run(Invocation::add().set(FAULT_ENV, NEVER), &c, "victim");
    let prev = first.assert_ok_json();
    let total = steps(&first);
    ipam.run(Invocation::del(), &c, "victim").assert_ok();
    assert!(total > 3, "the fault hook saw only {total} steps:\n{}", first.describe());
    let wanted = kill_points(HOST_KILL_POINTS).max(total);
    let mut failures = Vec::new();
    for i in 0..wanted {
        let n = if i < total { i + 1 } else { 1 + rng.below(total as u64) as usize };
        let add = ipam.run(Invocation::add().set(FAULT_ENV, &n.to_string()), &c, "victim");
        if !killed(&add) && !add.success() {
            failures.push(format!("step {n}: ADD neither killed nor successful: {}", add.describe()));
        }
        let with_prev = rng.coin();
        let stdin = if with_prev { conf::with_prev_result(&c, &prev) } else { c.clone() };
        for _ in 0..1 + rng.below(3) {
            if let Err(e) = ipam.run(Invocation::del(), &stdin, "victim").check_ok() {
                failures.push(format!("step {n}: DEL: {e}"));
            }
        }
        let left = store_leftovers(&net_dir);
        if left != baseline {
            failures.push(format!("step {n}: store {left:?}, expected {baseline:?}"));
        }
        if ipam.dd.reservations(&ipam.net).get(&by_ip).map(String::as_str) != Some("bystander\r\neth0") {
            failures.push(format!("step {n}: the bystander's reservation of {by_ip} changed"));
        }
        match ipam.run(Invocation::add(), &c, "victim").check_ok_json() {
            Ok(r) if r["ips"][0]["address"].as_str().is_some_and(|a| a.starts_with(&format!("{by_ip}/"))) => {
                failures.push(format!("step {n}: the bystander's {by_ip} was handed out again"))
            }
            Ok(_) => {}
            Err(e) => failures.push(format!("step {n}: the next ADD: {e}")),
        }
        ipam.run(Invocation::del(), &c, "victim").assert_ok();
        if failures.len() >= 5 {
            break;
        }
    }
    eprintln!("host-local: {total} steps per ADD, {wanted} kill points, {} failures", failures.len());
    assert!(failures.is_empty(), "seed {seed}:\n{}", failures.join("\n"));
}

/// static keeps no state and touches neither kernel nor disk: there is no
/// step to kill, and DEL is a no-op that always succeeds.
#[test]
fn static_has_no_step_to_kill() {
    let c = conf::static_ipam(V, "fault-static", json!([{ "address": "10.94.0.5/24" }]));
    let st = Binary::ours("static");
    let add = st.call(&Invocation::add().set(FAULT_ENV, "1").stdin_json(&c));
    add.assert_ok_json();
    assert_eq!(steps(&add), 0, "{}", add.describe());
    st.call(&Invocation::del().stdin_json(&c)).assert_ok();
}

// ---- a chain whose next plugin fails ---------------------------------------

/// Our bridge succeeds, the next plugin of the chain (the reference `tuning`
/// with a sysctl that does not exist) fails; the runtime then DELs the whole
/// chain, and nothing of the attachment may stay.
#[test]
fn chain_failing_after_bridge_is_cleaned_by_del() {
    if skip_without_root("the fault tests") {
        return;
    }
    let (_bins, path) = ours_then_reference(&["bridge", "host-local"]);
    let mut lab = Lab::new(&path);
    let ipam = lab.host_local(json!([[{ "subnet": "10.95.0.0/24" }]]));
    let bridge = lab.bridge_plugin(json!({ "isGateway": true, "ipMasq": true }), ipam);
    let tuning = json!({ "type": "tuning", "sysctl": { "net.ipv4.conf.eth0.no_such_key": "1" } });
    lab.write_conflist(&lab.conflist(V, vec![bridge.clone()]));
    let p = lab.add_pod();
    lab.add_ok(p, Lib::Libcni);
    lab.del_ok(p, Lib::Libcni);
    let bridge_name = lab.bridge.clone();
    let shared = [bridge_name.as_str()];
    let baseline = host_facts(&lab.host, &shared);
    lab.write_conflist(&lab.conflist(V, vec![bridge, tuning]));
    for _ in 0..3 {
        let p = lab.add_pod();
        let out = lab.drive(&lab.call("add", p));
        assert!(!out.success(), "the chain's ADD should fail at tuning:\n{}", out.describe());
        lab.del_ok(p, Lib::Libcni);
        lab.assert_released(p);
        assert_eq!(pod_leftovers(lab.pod(p)), Vec::<String>::new());
        assert_eq!(host_facts(&lab.host, &shared), baseline);
        assert_eq!(store_leftovers(&lab.ipam_dir().join(&lab.net)), Vec::<String>::new());
    }
}

// ---- the netns disappears ----------------------------------------------------

/// The pod's netns is deleted while ADD runs (at a random moment) or right
/// after it: ADD ends with a result or a clear error, never hangs, and DEL
/// (without the netns, as the runtime then sends it) leaves nothing.
#[test]
fn netns_deleted_during_or_after_add_leaks_nothing() {
    if skip_without_root("the fault tests") {
        return;
    }
    let (mut rng, seed) = Rng::from_env();
    for mut rig in [Rig::bridge(), Rig::macvlan()] {
        clean_cycle(&mut rig, &[]).ok();
        let baseline = rig.node();
        for round in 0..20 {
            rig.live_pod();
            let delay = Duration::from_micros(rng.below(30_000));
            let pod = rig.pod();
            let add = std::thread::scope(|s| {
                let adder = s.spawn(|| rig.add(NEVER));
                std::thread::sleep(delay);
                pod.delete().expect("ip netns del");
                adder.join().expect("ADD thread")
            });
            assert!(!add.timed_out, "seed {seed} round {round}: ADD hung\n{}", add.describe());
            if !add.success() {
                let code = add.json().ok().and_then(|v| v["code"].as_u64());
                assert!(code.is_some(), "seed {seed}: ADD failed without a CNI error:\n{}", add.describe());
            }
            let netns = if rng.coin() { String::new() } else { pod.path_str() };
            rig.del(&netns, None).assert_ok();
            if let Err(e) = leftovers(&rig, &baseline) {
                panic!("seed {seed} round {round} ({} after {delay:?}): left behind:\n  {e}", rig.name());
            }
        }
    }
}

// ---- store faults ------------------------------------------------------------

/// A full disk: ADD fails with code 11 (retry later), leaves no partial
/// file, and every existing reservation survives; once space is back, ADD works.
#[test]
fn full_disk_gives_try_again_later_and_loses_nothing() {
    let Some(mnt) = mount(ReadOnlyMount::small("256k")) else { return };
    let dir = mnt.path().join("data");
    let ipam = Ipam::new(Some(&dir));
    let c = ipam.conf(Some(&dir));
    ipam.run(Invocation::add(), &c, "first").assert_ok_json();
    let before = testkit::store::reservations(&dir.join(&ipam.net)).expect("reservations");
    fill(mnt.path());
    let out = ipam.run(Invocation::add(), &c, "second");
    out.assert_error(11);
    let after = testkit::store::reservations(&dir.join(&ipam.net)).expect("reservations");
    assert_eq!(before, after, "a failed ADD on a full disk changed the reservations");
    let left = store_leftovers(&dir.join(&ipam.net));
    assert_eq!(left.len(), 2, "only the first attachment's files: {left:?}");
    std::fs::remove_file(mnt.path().join("filler")).expect("rm filler");
    ipam.run(Invocation::add(), &c, "second").assert_ok_json();
    ipam.run(Invocation::del(), &c, "first").assert_ok();
    ipam.run(Invocation::del(), &c, "second").assert_ok();
    assert_eq!(store_leftovers(&dir.join(&ipam.net)), Vec::<String>::new());
}

fn mount(m: Result<ReadOnlyMount, String>) -> Option<ReadOnlyMount> {
    match m {
        Ok(m) => Some(m),
        Err(e) if skip_without_root("the store fault tests") => {
            eprintln!("({e})");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// Write a file until the filesystem is full.
fn fill(dir: &Path) {
    let mut f = std::fs::File::create(dir.join("filler")).expect("create filler");
    let chunk = vec![0u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
}

/// A dataDir that became read-only: ADD and DEL fail with an I/O error
/// naming the dataDir, and the reservations stay as they were.
#[test]
fn read_only_data_dir_fails_clearly_and_keeps_reservations() {
    let Some(mnt) = mount(ReadOnlyMount::small("1m")) else { return };
    let dir = mnt.path().join("data");
    let ipam = Ipam::new(Some(&dir));
    let c = ipam.conf(Some(&dir));
    ipam.run(Invocation::add(), &c, "first").assert_ok_json();
    let before = testkit::store::reservations(&dir.join(&ipam.net)).expect("reservations");
    mnt.remount_read_only().expect("remount");
    ipam.run(Invocation::add(), &c, "second").assert_error_naming(5, &["dataDir"]);
    ipam.run(Invocation::del(), &c, "first").assert_error_naming(5, &["dataDir"]);
    let after = testkit::store::reservations(&dir.join(&ipam.net)).expect("reservations");
    assert_eq!(before, after);
}

/// Garbage in a reservation file, the index and the seal stamp: the garbage
/// address is treated as taken (never handed out twice), the index is
/// rebuilt from the reservations, and DEL still releases what it should.
#[test]
fn corrupt_store_files_neither_lose_nor_duplicate_reservations() {
    let ipam = Ipam::new(None);
    let c = ipam.conf(None);
    let mine = ipam.run(Invocation::add(), &c, "mine").assert_ok_json();
    let mine_ip = mine["ips"][0]["address"].as_str().expect("address").split('/').next().unwrap_or("").to_string();
    let net_dir = ipam.dd.net_dir(&ipam.net);
    std::fs::write(net_dir.join("10.93.0.50"), b"\xff\xfe\0garbage\r\n\0").expect("write");
    std::fs::write(net_dir.join(".railcni/stamp"), b"\0\0not a stamp").expect("write");
    std::fs::write(net_dir.join(".railcni/attachments/mine@eth0"), b"\xffbroken\n10.93.0.50\n").expect("write");
    let others: Vec<String> = (0..60)
        .map(|i| {
            let r = ipam.run(Invocation::add(), &c, &format!("other{i}")).assert_ok_json();
            r["ips"][0]["address"].as_str().unwrap_or("").split('/').next().unwrap_or("").to_string()
        })
        .collect();
    assert!(!others.contains(&"10.93.0.50".to_string()), "a corrupt reservation's address was handed out");
    assert!(!others.contains(&mine_ip), "a live reservation's address was handed out");
    ipam.run(Invocation::del(), &c, "mine").assert_ok();
    let res = ipam.dd.reservations(&ipam.net);
    assert!(!res.contains_key(&mine_ip), "DEL after a corrupt index did not release {mine_ip}");
    assert!(res.contains_key("10.93.0.50"), "DEL removed a reservation it does not own");
}

/// The lock file flocked by a process that was then SIGKILLed: the kernel
/// drops the lock with the process, and the next ADD goes through at once.
#[test]
fn lock_of_a_killed_process_does_not_block() {
    let ipam = Ipam::new(None);
    let c = ipam.conf(None);
    ipam.run(Invocation::add(), &c, "first").assert_ok_json();
    let lock = ipam.dd.net_dir(&ipam.net).join("lock");
    let mut holder = std::process::Command::new("flock")
        // -o: flock itself holds the lock, not the command it runs.
        .arg("-o")
        .arg(&lock)
        .args(["sleep", "60"])
        .spawn()
        .expect("flock (util-linux) is needed");
    std::thread::sleep(Duration::from_millis(200));
    holder.kill().expect("kill");
    holder.wait().expect("wait");
    let out = ipam.run(Invocation::add().timeout(Duration::from_secs(5)), &c, "second");
    assert!(!out.timed_out, "ADD waited on a dead process's lock");
    out.assert_ok_json();
}

// ---- portmap and firewall: nftables rules on the node, chained after bridge ------

/// A chained plugin whose work is rules in the node's nftables (portmap,
/// firewall), given a bridge attachment's result as `prevResult`: the
/// bridge `nodebr0` (a veth end on the node, so that portmap finds the
/// route to the pod and sets `route_localnet`) and `eth0` in the pod. The
/// baseline (after a first ADD+DEL) has the plugin's table and base
/// chains; after any DEL not one rule of the attachment may be left.
struct NodeRulesRig {
    rig: Rig,
    prev: Value,
}

impl NodeRulesRig {
    fn new(keys: Value) -> NodeRulesRig {
        let plugin = keys["type"].as_str().unwrap_or_default().to_string();
        let lab = Lab::new(&our_cni_path(&[&plugin]));
        let host = &lab.host;
        let made = host
            .ip(&["link", "add", "nodebr0", "type", "veth", "peer", "name", "nodebr1"])
            .and_then(|_| host.ip(&["addr", "add", "10.87.0.1/24", "dev", "nodebr0"]))
            .and_then(|_| host.ip(&["link", "set", "nodebr0", "up"]));
        made.unwrap_or_else(|e| panic!("{e}"));
        let conf = lab.plugin_conf(V, keys);
        let rig = Rig::new(lab, &plugin, conf, Vec::new());
        let prev = json!({
            "cniVersion": V,
            "interfaces": [{ "name": "nodebr0" }, { "name": "eth0", "sandbox": rig.pod().path_str() }],
            "ips": [
                { "interface": 1, "address": "10.87.0.5/24", "gateway": "10.87.0.1" },
                { "interface": 1, "address": "fd87::5/64", "gateway": "fd87::1" },
            ],
        });
        NodeRulesRig { rig, prev }
    }
}

impl Target for NodeRulesRig {
    fn name(&self) -> String {
        self.rig.name()
    }

    fn pod(&self) -> &Namespace {
        self.rig.pod()
    }

    fn live_pod(&mut self) {
        self.rig.live_pod();
    }

    fn add(&self, fault_after: &str) -> Outcome {
        let stdin = conf::with_prev_result(&self.rig.conf, &self.prev);
        let ns = self.pod().path_str();
        self.rig
            .lab
            .exec_plugin(&self.rig.plugin, &self.rig.inv(Invocation::add(), &ns, &stdin).set(FAULT_ENV, fault_after))
    }

    fn del(&self, netns: &str, prev: Option<&Value>) -> Outcome {
        self.rig.del(netns, prev)
    }

    fn node(&self) -> Vec<String> {
        self.rig.node()
    }

    fn leftovers(&self) -> Vec<String> {
        Vec::new()
    }

    /// An nftables commit at least (portmap also reads routes and writes a sysctl).
    fn fewest_steps(&self) -> usize {
        1
    }
}

#[test]
fn portmap_add_killed_at_every_step_leaves_no_rule_after_del() {
    on_the_host(|| {
        NodeRulesRig::new(json!({ "type": "portmap", "runtimeConfig": { "portMappings": [
            { "hostPort": 18080, "containerPort": 80, "protocol": "tcp" },
            { "hostPort": 18081, "containerPort": 81, "protocol": "udp", "hostIP": "10.87.0.1" },
        ] } }))
    });
}

#[test]
fn firewall_add_killed_at_every_step_leaves_no_rule_after_del() {
    on_the_host(|| NodeRulesRig::new(json!({ "type": "firewall", "ingressPolicy": "same-bridge" })));
}
