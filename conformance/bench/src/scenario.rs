//! `bench <plugin>`: one interface plugin + host-local, ADD and DEL, ours vs
//! the reference, same config, alternating A B A B, each ADD into a fresh pod
//! namespace. What differs per plugin (its config keys, what the host
//! namespace needs, what must be gone afterwards) is a [`Scenario`]
//! (`bridge`, `on_master`); the measurement, the table, the JSON and
//! the entry point are shared, so every plugin's numbers mean the same.
//!
//! Each implementation gets its own "host" namespace. The bench thread
//! `setns`es into it before every call, outside the timed region, and execs
//! the plugin directly: the time is the plugin process tree's, not `ip netns
//! exec`'s. Pod namespaces are created before and removed after each timed
//! pair, also untimed.
//!
//! CPU comes from `wait4` on the plugin process. The kernel fills that
//! rusage with the process *and its waited-for children* (getrusage
//! RUSAGE_BOTH in wait_task_zombie): CPU is the sum over the plugin and the
//! IPAM child it ran. Peak RSS cannot come from the same `wait4`: at exec the
//! kernel folds the old mm's high-water mark into `ru_maxrss`, and a child
//! of this process starts out as a copy of it, so every plugin would read
//! at least this process's ~2.5 MiB. It is measured in separate runs under
//! GNU time (a floor of about 0.4 MiB) instead; it is the larger of the
//! plugin's and its IPAM child's peaks. The IPAM binary's peak is measured
//! alone too and printed beside it, which tells whether the tree's peak is
//! the IPAM's.

use crate::load::{Burst, burst, libcni_cycles};
use crate::measure::{loadavg, peak_rss};
use crate::opts::{self, Accepts, Opts};
use crate::stats::{Sample, Stats, ms, p50, stats, stats_json};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use tempfile::TempDir;
use testkit::binary::{Binary, Invocation, REFERENCE_DIR, our_bin_dir};
use testkit::lab::macvlan::sorted_names;
use testkit::netns::{Namespace, have_root, unique_prefix};
use testkit::profile::{Profile, Site};
use testkit::store;

const VERSION: &str = "1.0.0"; // the reference's highest version
const OP_TIMEOUT: Duration = Duration::from_secs(120);
/// ADD+DEL pairs per implementation measured for peak RSS.
const RSS_REPS: usize = 5;

/// What every scenario fixes: the plugin's profile, the tag of its host
/// namespaces' names, host-local's subnet (distinct per scenario).
pub struct Net {
    pub profile: &'static Profile,
    pub tag: &'static str,
    pub subnet: &'static str,
}

/// What one plugin's bench sets up and checks, beyond the plugin's
/// [`Profile`]. Errors are reported prefixed with the implementation's label.
pub trait Scenario: Sync {
    /// The plugin's facts: its name (also the `bench` subcommand), its keys,
    /// what the host needs, whether a network holds several pods.
    fn profile(&self) -> &'static Profile {
        self.net().profile
    }
    /// Tag of the host namespaces' names.
    fn ns_tag(&self) -> &'static str {
        self.net().tag
    }
    /// host-local's subnet.
    fn subnet(&self) -> &'static str {
        self.net().subnet
    }
    /// The three above, as the scenario fixes them.
    fn net(&self) -> &Net;
    /// The setup as the header line names it, before `+ host-local`.
    fn setup(&self) -> String;
    /// Keys the bench pins beyond the profile's, before `ipam`.
    fn extra_keys(&self) -> Value;
    /// The plugin's binary name, which is also the `bench` subcommand.
    fn plugin(&self) -> &'static str {
        self.profile().name
    }
    /// Prepares a new host namespace (the profile's master or devices);
    /// what it returns, by default its links, is handed to
    /// [`Scenario::leftovers`] after the run.
    fn prepare_host(&self, host: &Namespace) -> Result<Vec<String>, String> {
        self.profile().prepare_host(host)?;
        Ok(sorted_names(host))
    }
    /// Untimed, in each fresh pod before its ADD: what a chained plugin
    /// needs there first, and the config that ADD and its DEL get (a
    /// standalone plugin: the side's config as it is).
    fn prelude(&self, _pod: &Namespace, conf: &Value) -> Result<Value, String> {
        Ok(conf.clone())
    }
    /// Why ADD->DEL through libcni cannot run, if it cannot (then it is skipped).
    fn no_libcni(&self) -> Option<&'static str> {
        None
    }
    /// Why `--quick`'s ratio bound does not apply, if it does not (then
    /// `--quick` fails only on a failed operation).
    fn no_quick_bound(&self) -> Option<&'static str> {
        None
    }
    /// Checks the pod after a successful ADD (untimed).
    /// By default: the plugin's `eth0` is there.
    fn after_add(&self, pod: &Namespace) -> Result<(), String> {
        if pod.link("eth0").is_none() {
            return Err(format!("ADD succeeded but there is no eth0 in the pod\n{}", pod.dump()));
        }
        Ok(())
    }
    /// Checks the pod after a successful DEL (untimed). By default: `eth0`
    /// is gone (deleted, or moved back to the host).
    fn after_del(&self, pod: &Namespace) -> Result<(), String> {
        if pod.link("eth0").is_some() {
            return Err("eth0 left in the pod after DEL".into());
        }
        Ok(())
    }
    /// Why concurrent pods on one network cannot work, if they cannot (then
    /// the bursts are skipped).
    fn no_bursts(&self) -> Option<&'static str> {
        self.profile().single_pod
    }
    /// What the run must not have left in the host namespace.
    /// By default: the host has exactly the links it was prepared with.
    fn leftovers(&self, host: &Namespace, baseline: &[String]) -> Result<(), String> {
        let links = sorted_names(host);
        if links != baseline {
            return Err(format!("host links changed: {links:?}, was {baseline:?}"));
        }
        Ok(())
    }
}

/// The usage text of `bench <plugin>`.
pub fn usage(plugin: &str) -> String {
    format!(
        "usage: bench {plugin} [--reps N] [--bursts N,N..] [--burst-reps K] [--libcni N] [--quick] [--json PATH]
       [--markdown] [--ours-only]

  --reps N        timed ADD+DEL pairs per implementation (default 50)
  --bursts LIST   concurrent pods per burst (default 2,4,8,32; 0 for none)
  --burst-reps K  bursts of each size per implementation, alternating; the median counts
                  (default 3)
  --libcni N      ADD->DEL cycles through libcni per implementation (default 20)
  --quick         10 reps, one burst of 8, 5 libcni cycles; exit 1 if ours/ref passes a
                  regression bound (ADD wall or CPU p50 > {QUICK_MAX_RATIO}x, or any failure)
  --ours-only     skip the reference
  --json PATH     also write the results as JSON
  --markdown      also print the tables as the README has them

Binaries: ours = $RAILCNI_BIN_DIR/{{{plugin},host-local}} (default <workspace>/target/release),
reference = /usr/lib/cni/{{{plugin},host-local}}. Needs root."
    )
}

/// `--quick` fails if ours/ref ADD wall or CPU p50 exceeds this. The targets
/// are 1/3 and 1/5; the bound only catches a regression, on a noisy machine.
pub const QUICK_MAX_RATIO: f64 = 0.6;

/// The options of `bench <plugin>`, as [`usage`] lists them.
const ACCEPTS: Accepts = Accepts {
    options: &["--reps", "--bursts", "--burst-reps", "--libcni", "--quick", "--json", "--markdown", "--ours-only"],
    reps: 50,
    quick_reps: 10,
};

/// One implementation: its plugin, host namespace, store, samples.
struct Side {
    scenario: &'static dyn Scenario,
    label: &'static str,
    plugin: Binary,
    host: Namespace,
    /// What [`Scenario::prepare_host`] returned.
    baseline: Vec<String>,
    _store: TempDir,
    net_dir: PathBuf,
    conf: Value,
    add: Vec<Sample>,
    del: Vec<Sample>,
    /// Peak RSS of host-local run alone (KiB).
    ipam_rss_kib: u64,
}

impl Side {
    fn new(scenario: &'static dyn Scenario, label: &'static str, dir: &Path) -> Result<Side, String> {
        let name = scenario.plugin();
        let plugin = Binary::find(dir, name, label)?;
        Binary::find(dir, "host-local", label)?;
        let host = Namespace::create(&format!("{}-{label}", unique_prefix(scenario.ns_tag())))?;
        let baseline = scenario.prepare_host(&host)?;
        let base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
        let store = tempfile::Builder::new()
            .prefix(&format!("railcni-bench-{name}-"))
            .tempdir_in(&base)
            .map_err(|e| format!("temp store: {e}"))?;
        let net = format!("bench-{name}");
        // Key order as a runtime's conflist has it (serde_json preserves it).
        let mut conf = json!({ "cniVersion": VERSION, "name": net });
        let site = Site { prefix: scenario.ns_tag(), dir: store.path(), devices: &[], net: 0 };
        for keys in [scenario.profile().keys(&site), scenario.extra_keys()] {
            if let (Some(c), Some(keys)) = (conf.as_object_mut(), keys.as_object()) {
                c.extend(keys.clone());
            }
        }
        conf["ipam"] = json!({
            "type": "host-local",
            "dataDir": store.path().display().to_string(),
            "ranges": [[{ "subnet": scenario.subnet() }]],
        });
        let net_dir = store.path().join(net);
        Ok(Side {
            scenario,
            label,
            plugin,
            host,
            baseline,
            _store: store,
            net_dir,
            conf,
            add: Vec::new(),
            del: Vec::new(),
            ipam_rss_kib: 0,
        })
    }

    /// A fresh pod namespace for attachment `cid` after the scenario's
    /// prelude, with the config for it, and this thread moved into the side's
    /// host namespace, where the plugin runs.
    fn enter_with_pod(&self, cid: &str) -> Result<(Namespace, Value), String> {
        let pod = Namespace::create(&format!("{}-{cid}", self.host.name()))?;
        let conf = self.scenario.prelude(&pod, &self.conf).map_err(|e| format!("{}: prelude: {e}", self.label))?;
        self.host.enter_current_thread()?;
        Ok((pod, conf))
    }

    fn invocation(verb: &str, cid: &str, pod: &Namespace, conf: &Value) -> Invocation {
        Invocation::attachment_verb(verb)
            .attachment(cid, "eth0")
            .set("CNI_NETNS", &pod.path_str())
            .stdin_json(conf)
            .timeout(OP_TIMEOUT)
    }

    /// ADD into a fresh pod namespace, then DEL; only the plugin runs are timed.
    fn add_del(&mut self, cid: &str) -> Result<(Sample, Sample), String> {
        let (pod, conf) = self.enter_with_pod(cid)?;
        let inv = |verb: &str| Side::invocation(verb, cid, &pod, &conf);
        let a = self.plugin.call(&inv("ADD"));
        a.check_ok_json().map_err(|e| format!("{}: ADD: {e}", self.label))?;
        self.scenario.after_add(&pod).map_err(|e| format!("{}: {e}", self.label))?;
        let d = self.plugin.call(&inv("DEL"));
        d.check_ok_silent().map_err(|e| format!("{}: DEL: {e}", self.label))?;
        self.scenario.after_del(&pod).map_err(|e| format!("{}: {e}", self.label))?;
        Ok((Sample { wall: a.wall, usage: a.usage }, Sample { wall: d.wall, usage: d.usage }))
    }

    /// host-local ADD+DEL on its own (it never opens the netns), for its peak RSS.
    fn probe_ipam(&mut self, cid: &str) -> Result<(), String> {
        let ipam = Binary::find(self.plugin.dir(), "host-local", self.label)?;
        for verb in ["ADD", "DEL"] {
            let inv = Invocation::attachment_verb(verb).attachment(cid, "eth0").stdin_json(&self.conf);
            let rss = peak_rss(&ipam, &inv).map_err(|e| format!("{}: host-local {verb}: {e}", self.label))?;
            self.ipam_rss_kib = self.ipam_rss_kib.max(rss);
        }
        Ok(())
    }

    /// ADD then DEL in a fresh pod, each started by [`peak_rss`]: the
    /// plugin tree's peak RSS for each (KiB).
    fn probe_rss(&mut self, cid: &str) -> Result<(u64, u64), String> {
        let (pod, conf) = self.enter_with_pod(cid)?;
        let inv = |verb: &str| Side::invocation(verb, cid, &pod, &conf);
        let add = peak_rss(&self.plugin, &inv("ADD")).map_err(|e| format!("{}: ADD: {e}", self.label))?;
        let del = peak_rss(&self.plugin, &inv("DEL")).map_err(|e| format!("{}: DEL: {e}", self.label))?;
        Ok((add, del))
    }

    fn leftovers(&self) -> Result<(), String> {
        let held = store::reservations(&self.net_dir).map_err(|e| e.to_string())?;
        if !held.is_empty() {
            return Err(format!("{}: reservations left: {held:?}", self.label));
        }
        self.scenario.leftovers(&self.host, &self.baseline).map_err(|e| format!("{}: {e}", self.label))
    }
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

pub(crate) type Row = (&'static str, &'static str, Stats);

fn find(rows: &[Row], op: &str, label: &str) -> Option<Stats> {
    rows.iter().find(|r| r.0 == op && r.1 == label).map(|r| r.2)
}

pub(crate) fn print_table(rows: &[Row], ipam_rss: &[(&str, u64)]) {
    println!(
        "{:<4} {:<5} {:>4} | {:>9} {:>9} {:>9} | {:>9} | {:>8} {:>9}",
        "op", "impl", "n", "wall p50", "wall p90", "wall p99", "cpu p50", "RSS KiB", "IPAM KiB"
    );
    for (op, label, s) in rows {
        let ipam = ipam_rss.iter().find(|r| r.0 == *label).map_or("-".to_string(), |r| r.1.to_string());
        println!(
            "{:<4} {:<5} {:>4} | {:>9.2} {:>9.2} {:>9.2} | {:>9.2} | {:>8} {:>9}",
            op, label, s.n, s.wall_p50, s.wall_p90, s.wall_p99, s.cpu_p50, s.max_rss_kib, ipam
        );
    }
    for op in ["ADD", "DEL"] {
        if let (Some(o), Some(r)) = (find(rows, op, "ours"), find(rows, op, "ref")) {
            let f = |x: Option<f64>| x.map(|x| format!("{x:.2}x")).unwrap_or_else(|| "-".into());
            println!(
                "{:<4} {:<5} {:>4} | {:>9} {:>9} {:>9} | {:>9} | {:>8}",
                op,
                "o/r",
                "",
                f(ratio(o.wall_p50, r.wall_p50)),
                f(ratio(o.wall_p90, r.wall_p90)),
                f(ratio(o.wall_p99, r.wall_p99)),
                f(ratio(o.cpu_p50, r.cpu_p50)),
                f(ratio(o.max_rss_kib as f64, r.max_rss_kib as f64)),
            );
        }
    }
    println!("(ms; cpu = user+sys of the plugin and its IPAM child, from wait4; RSS = peak of the plugin and");
    println!(" its waited-for IPAM child, measured in {RSS_REPS} extra runs under GNU time; IPAM = host-local's");
    println!(" peak when run alone; o/r = ours / ref; p99 of few reps is close to the max)");
}

fn run(scenario: &'static dyn Scenario, o: &Opts) -> Result<(), String> {
    let name = scenario.plugin();
    if !have_root() {
        return Err(format!("bench {name} needs root (network namespaces)"));
    }
    let ours_dir = our_bin_dir("release");
    let mut sides = vec![
        Side::new(scenario, "ours", &ours_dir)
            .map_err(|e| format!("{e}; run `cargo build --release --workspace` first (or set RAILCNI_BIN_DIR)"))?,
    ];
    if !o.ours_only {
        sides.push(Side::new(scenario, "ref", Path::new(REFERENCE_DIR))?);
    }
    let load_start = loadavg();
    println!(
        "bench {name}: {} + host-local {}, cniVersion {VERSION}, {} reps",
        scenario.setup(),
        scenario.subnet(),
        o.reps
    );
    for s in &sides {
        println!("  {}: {} (host netns {})", s.label, s.plugin.path().display(), s.host.name());
    }
    println!("  loadavg at start: {load_start}");
    // Untimed warm-up: page cache, the store directory, and whatever the
    // plugin creates once on the host (the bridge), so every timed ADD finds it.
    for s in &mut sides {
        s.add_del("warm")?;
    }
    for i in 0..3 {
        for s in &mut sides {
            s.probe_ipam(&format!("ipam-probe-{i}"))?;
        }
    }
    // A B A B: both see the same machine-load drift.
    for i in 0..o.reps {
        for s in &mut sides {
            let (a, d) = s.add_del(&format!("c{i}"))?;
            s.add.push(a);
            s.del.push(d);
        }
    }
    for s in &sides {
        s.leftovers()?;
    }
    // Peak RSS, measured apart from the timing runs (see `peak_rss`).
    let mut rss: Vec<(&str, u64, u64)> = sides.iter().map(|s| (s.label, 0, 0)).collect();
    for i in 0..o.reps.min(RSS_REPS) {
        for (s, r) in sides.iter_mut().zip(rss.iter_mut()) {
            let (a, d) = s.probe_rss(&format!("rss{i}"))?;
            (r.1, r.2) = (r.1.max(a), r.2.max(d));
        }
    }
    let bursts = match scenario.no_bursts() {
        Some(why) => {
            println!("no concurrent pods: {why}");
            Vec::new()
        }
        None => run_bursts(&sides, &o.bursts, o.burst_reps)?,
    };
    let libcni = match scenario.no_libcni() {
        Some(why) => {
            println!("no libcni cycles: {why}");
            Vec::new()
        }
        None => run_libcni(&sides, o.libcni)?,
    };
    let load_end = loadavg();
    let mut rows: Vec<Row> = Vec::new();
    for op in ["ADD", "DEL"] {
        for (s, r) in sides.iter().zip(&rss) {
            let mut st = stats(if op == "ADD" { &s.add } else { &s.del });
            st.max_rss_kib = if op == "ADD" { r.1 } else { r.2 };
            rows.push((op, s.label, st));
        }
    }
    println!();
    let ipam_rss: Vec<(&str, u64)> = sides.iter().map(|s| (s.label, s.ipam_rss_kib)).collect();
    print_table(&rows, &ipam_rss);
    print_bursts(&bursts);
    print_libcni(&libcni);
    if o.markdown {
        print_markdown(&rows, &bursts);
    }
    println!("loadavg at start: {load_start}; at end: {load_end}");
    if let Some(path) = &o.json {
        let ratios: Vec<Value> = ["ADD", "DEL"]
            .iter()
            .filter_map(|op| {
                let (a, b) = (find(&rows, op, "ours")?, find(&rows, op, "ref")?);
                Some(json!({
                    "op": op,
                    "wall_p50": ratio(a.wall_p50, b.wall_p50),
                    "wall_p90": ratio(a.wall_p90, b.wall_p90),
                    "wall_p99": ratio(a.wall_p99, b.wall_p99),
                    "cpu_p50": ratio(a.cpu_p50, b.cpu_p50),
                    "max_rss": ratio(a.max_rss_kib as f64, b.max_rss_kib as f64),
                }))
            })
            .collect();
        let doc = json!({
            "benchmark": name,
            "cniVersion": VERSION,
            "conf": sides[0].conf,
            "reps": o.reps,
            "burst_reps": o.burst_reps,
            "loadavg_start": load_start,
            "loadavg_end": load_end,
            "binaries": sides.iter().map(|s| json!({"impl": s.label, "path": s.plugin.path().display().to_string()})).collect::<Vec<_>>(),
            "results": rows.iter().map(|(op, l, s)| json!({"op": op, "impl": l, "stats": stats_json(s)})).collect::<Vec<_>>(),
            "ratios_ours_over_ref": ratios,
            "ipam_alone_max_rss_kib": sides.iter().map(|s| json!({"impl": s.label, "max_rss_kib": s.ipam_rss_kib})).collect::<Vec<_>>(),
            "rss_note": "peak RSS of the plugin and its waited-for IPAM child, from GNU time in separate runs",
            "bursts": bursts.iter().map(|(l, b)| json!({
                "impl": l, "pods": b.pods, "add_per_sec": b.adds_per_sec(), "del_per_sec": b.dels_per_sec(), "failures": b.failures,
            })).collect::<Vec<_>>(),
            "libcni_cycle_p50_ms": libcni.iter().map(|(l, c)| json!({"impl": l, "p50_ms": ms(p50(c)), "cycles": c.len()})).collect::<Vec<_>>(),
        });
        crate::measure::write_json(path, &doc)?;
    }
    if o.quick { quick_gate(scenario, &rows, &bursts) } else { Ok(()) }
}

/// Every burst size `reps` times, alternating implementations, keeping the
/// median ADD and DEL time of each (one burst is a few hundred ms on a
/// shared machine: a single one is noise). Failures are summed. Each side's
/// leftovers are checked after its bursts.
fn run_bursts(sides: &[Side], sizes: &[usize], reps: usize) -> Result<Vec<(&'static str, Burst)>, String> {
    let mut out = Vec::new();
    for &n in sizes {
        let mut runs: Vec<Vec<Burst>> = sides.iter().map(|_| Vec::new()).collect();
        for r in 0..reps {
            for (s, runs) in sides.iter().zip(runs.iter_mut()) {
                runs.push(burst(&s.plugin, &s.host, &s.conf, n, &format!("b{n}r{r}"))?);
            }
        }
        for (s, runs) in sides.iter().zip(&runs) {
            out.push((s.label, median_burst(runs)));
        }
    }
    for s in sides {
        s.leftovers()?;
    }
    Ok(out)
}

fn median_burst(runs: &[Burst]) -> Burst {
    let add: Vec<Duration> = runs.iter().map(|b| b.add_wall).collect();
    let del: Vec<Duration> = runs.iter().map(|b| b.del_wall).collect();
    Burst {
        pods: runs.first().map_or(0, |b| b.pods),
        add_wall: p50(&add),
        del_wall: p50(&del),
        failures: runs.iter().map(|b| b.failures).sum(),
    }
}

fn run_libcni(sides: &[Side], reps: usize) -> Result<Vec<(&'static str, Vec<Duration>)>, String> {
    let mut out: Vec<(&'static str, Vec<Duration>)> = sides.iter().map(|s| (s.label, Vec::new())).collect();
    for i in 0..reps {
        for (s, (_, cycles)) in sides.iter().zip(out.iter_mut()) {
            let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
            let mut conf = s.conf.clone();
            conf["name"] = json!(format!("{}-lc{i}", conf["name"].as_str().unwrap_or("bench")));
            cycles.extend(libcni_cycles(s.plugin.dir(), &s.host, &conf, 1, tmp.path())?);
        }
    }
    Ok(out)
}

fn print_bursts(bursts: &[(&str, Burst)]) {
    if bursts.is_empty() {
        return;
    }
    println!("\nconcurrent pods on one network (all ADDs at once, then all DELs; median of the bursts):");
    println!("{:>5} {:<5} | {:>8} {:>8} | {:>8}", "pods", "impl", "ADD/s", "DEL/s", "failures");
    for (label, b) in bursts {
        println!(
            "{:>5} {:<5} | {:>8.1} {:>8.1} | {:>8}",
            b.pods,
            label,
            b.adds_per_sec(),
            b.dels_per_sec(),
            b.failures
        );
    }
    for pair in bursts.chunks(2) {
        if let [(_, o), (_, r)] = pair {
            println!(
                "{:>5} {:<5} | {:>7.2}x {:>7.2}x |",
                o.pods,
                "o/r",
                o.adds_per_sec() / r.adds_per_sec(),
                o.dels_per_sec() / r.dels_per_sec()
            );
        }
    }
}

fn print_libcni(libcni: &[(&str, Vec<Duration>)]) {
    if libcni.iter().all(|(_, c)| c.is_empty()) {
        return;
    }
    println!("\nADD->DEL through libcni (the Go driver; its start-up is in both):");
    for (label, cycles) in libcni {
        println!("  {label:<5} p50 {:.2} ms over {} cycles", ms(p50(cycles)), cycles.len());
    }
}

/// The README's tables: times in ms, peak RSS in MiB, throughput in pods/s.
fn print_markdown(rows: &[Row], bursts: &[(&str, Burst)]) {
    let name = |label: &str| if label == "ours" { "railcni" } else { "reference" };
    println!("\n| op | impl | wall p50 | wall p90 | wall p99 | CPU p50 | peak RSS |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (op, label, s) in rows {
        println!(
            "| {op} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} MiB |",
            name(label),
            s.wall_p50,
            s.wall_p90,
            s.wall_p99,
            s.cpu_p50,
            s.max_rss_kib as f64 / 1024.0
        );
    }
    for op in ["ADD", "DEL"] {
        if let (Some(o), Some(r)) = (find(rows, op, "ours"), find(rows, op, "ref")) {
            let x = |a: f64, b: f64| ratio(a, b).map(|x| format!("{x:.2}×")).unwrap_or_else(|| "-".into());
            println!(
                "| {op} | railcni / reference | {} | {} | {} | {} | {} |",
                x(o.wall_p50, r.wall_p50),
                x(o.wall_p90, r.wall_p90),
                x(o.wall_p99, r.wall_p99),
                x(o.cpu_p50, r.cpu_p50),
                x(o.max_rss_kib as f64, r.max_rss_kib as f64)
            );
        }
    }
    if bursts.is_empty() {
        return;
    }
    println!("\n| pods | railcni ADD/s | reference ADD/s | ratio | railcni DEL/s | reference DEL/s |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for pair in bursts.chunks(2) {
        if let [(_, o), (_, r)] = pair {
            println!(
                "| {} | {:.0} | {:.0} | {:.2}× | {:.0} | {:.0} |",
                o.pods,
                o.adds_per_sec(),
                r.adds_per_sec(),
                o.adds_per_sec() / r.adds_per_sec(),
                o.dels_per_sec(),
                r.dels_per_sec()
            );
        }
    }
}

/// `--quick`: a regression bound on the ratios, and no failure under load.
fn quick_gate(scenario: &dyn Scenario, rows: &[Row], bursts: &[(&str, Burst)]) -> Result<(), String> {
    let failures: usize = bursts.iter().filter(|(l, _)| *l == "ours").map(|(_, b)| b.failures).sum();
    if failures > 0 {
        return Err(format!("--quick: {failures} of our concurrent operations failed"));
    }
    if let Some(why) = scenario.no_quick_bound() {
        println!("--quick: no failures; no ratio bound: {why}");
        return Ok(());
    }
    let (Some(o), Some(r)) = (find(rows, "ADD", "ours"), find(rows, "ADD", "ref")) else {
        return Ok(()); // --ours-only: nothing to compare with
    };
    for (what, ours, theirs) in [("wall p50", o.wall_p50, r.wall_p50), ("CPU p50", o.cpu_p50, r.cpu_p50)] {
        let x = ours / theirs;
        if x > QUICK_MAX_RATIO {
            return Err(format!("--quick: ADD {what} is {x:.2}x the reference's, above the {QUICK_MAX_RATIO}x bound"));
        }
    }
    println!("--quick: ADD within {QUICK_MAX_RATIO}x of the reference, no failures under load");
    Ok(())
}

/// Entry point for `bench <scenario.plugin()> <args>`. The bench thread
/// `setns`es between host namespaces.
pub fn main(scenario: &'static dyn Scenario, args: &[String]) -> ExitCode {
    let name = scenario.plugin();
    opts::main(name, &usage(name), args, &ACCEPTS, move |o| run(scenario, &o).map(|()| true))
}
