//! `bench <plugin>`: one interface plugin + host-local, ADD and DEL, ours vs
//! the reference, same config, alternating A B A B, each ADD into a fresh pod
//! namespace. What differs per plugin (its config keys, what the host
//! namespace needs, what must be gone afterwards) is a [`Scenario`]
//! (`bench_bridge`, `bench_macvlan`); the measurement, the table, the JSON and
//! the entry point are shared, so every plugin's numbers mean the same.
//!
//! Each implementation gets its own "host" namespace. The bench thread
//! `setns`es into it before every call, outside the timed region, and execs
//! the plugin directly: the time is the plugin process tree's, not `ip netns
//! exec`'s. Pod namespaces are created before and removed after each timed
//! pair, also untimed.
//!
//! CPU and peak RSS come from `wait4` on the plugin process. The kernel
//! fills that rusage with the process *and its waited-for children*
//! (getrusage RUSAGE_BOTH in wait_task_zombie): CPU is the sum over the
//! plugin and the IPAM child it ran; `ru_maxrss` is the larger of the two
//! peaks (checked: a plugin whose IPAM touches 200 MiB reports ~210 MiB).
//! So the plugin's own peak is not measurable this way; the IPAM binary's
//! peak is measured alone (host-local ADD/DEL run directly) and printed
//! beside it, which tells whether the tree's peak is the IPAM's.

use crate::bench::{Sample, ms};
use crate::netns::{NetNs, have_root, unique_prefix};
use crate::plugin::{Invocation, Plugin, REFERENCE_DIR, our_bin_dir};
use crate::store;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use tempfile::TempDir;

const VERSION: &str = "1.0.0"; // the reference's highest version
const OP_TIMEOUT: Duration = Duration::from_secs(120);

/// What one plugin's bench sets up and checks. Errors are reported prefixed
/// with the implementation's label.
pub trait Scenario: Sync {
    /// The plugin's binary name, which is also the `bench` subcommand.
    fn plugin(&self) -> &'static str;
    /// Tag of the host namespaces' names.
    fn ns_tag(&self) -> &'static str;
    /// host-local's subnet.
    fn subnet(&self) -> &'static str;
    /// The setup as the header line names it, before `+ host-local`.
    fn setup(&self) -> String;
    /// The plugin's own config keys, between `type` and `ipam`.
    fn plugin_keys(&self) -> Value;
    /// Prepares a new host namespace; what it returns (e.g. its links) is
    /// handed to [`Scenario::leftovers`] after the run.
    fn prepare_host(&self, _host: &NetNs) -> Result<Vec<String>, String> {
        Ok(Vec::new())
    }
    /// Checks the pod after a successful ADD (untimed).
    fn after_add(&self, _pod: &NetNs) -> Result<(), String> {
        Ok(())
    }
    /// Checks the pod after a successful DEL (untimed).
    fn after_del(&self, _pod: &NetNs) -> Result<(), String> {
        Ok(())
    }
    /// What the run must not have left in the host namespace.
    fn leftovers(&self, host: &NetNs, baseline: &[String]) -> Result<(), String>;
}

/// The usage text of `bench <plugin>`.
pub fn usage(plugin: &str) -> String {
    format!(
        "usage: bench {plugin} [--reps N] [--quick] [--json PATH] [--ours-only]

  --reps N      timed ADD+DEL pairs per implementation (default 50)
  --quick       10 reps
  --ours-only   skip the reference
  --json PATH   also write the results as JSON

Binaries: ours = $RAILCNI_BIN_DIR/{{{plugin},host-local}} (default <workspace>/target/release),
reference = /usr/lib/cni/{{{plugin},host-local}}. Needs root."
    )
}

/// `--reps N`, `--quick`, `--json PATH`, `--ours-only`: the options every plugin bench takes.
pub struct Opts {
    pub reps: usize,
    pub json: Option<PathBuf>,
    pub ours_only: bool,
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    parse_opts_with(args, 50, 10)
}

/// [`Opts`] from `args`, with `reps` reps by default and `quick` with `--quick`.
pub fn parse_opts_with(args: &[String], reps: usize, quick: usize) -> Result<Opts, String> {
    let mut o = Opts { reps, json: None, ours_only: false };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--reps" => o.reps = value("--reps")?.parse().map_err(|_| "--reps: not a number".to_string())?,
            "--quick" => o.reps = quick,
            "--json" => o.json = Some(PathBuf::from(value("--json")?)),
            "--ours-only" => o.ours_only = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if o.reps == 0 {
        return Err("--reps must be at least 1".into());
    }
    Ok(o)
}

/// One implementation: its plugin, host namespace, store, samples.
struct Side {
    scenario: &'static dyn Scenario,
    label: &'static str,
    plugin: Plugin,
    host: NetNs,
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
        let plugin = Plugin::find(dir, name, label)?;
        Plugin::find(dir, "host-local", label)?;
        let host = NetNs::create(&format!("{}-{label}", unique_prefix(scenario.ns_tag())))?;
        let baseline = scenario.prepare_host(&host)?;
        let base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
        let store = tempfile::Builder::new()
            .prefix(&format!("railcni-bench-{name}-"))
            .tempdir_in(&base)
            .map_err(|e| format!("temp store: {e}"))?;
        let net = format!("bench-{name}");
        // Key order as a runtime's conflist has it (serde_json preserves it).
        let mut conf = json!({ "cniVersion": VERSION, "name": net, "type": name });
        if let (Some(c), Some(keys)) = (conf.as_object_mut(), scenario.plugin_keys().as_object()) {
            c.extend(keys.clone());
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

    /// ADD into a fresh pod namespace, then DEL; only the plugin runs are timed.
    fn add_del(&mut self, cid: &str) -> Result<(Sample, Sample), String> {
        let pod = NetNs::create(&format!("{}-{cid}", self.host.name()))?;
        self.host.enter_current_thread()?;
        let inv = |verb: &str| {
            Invocation::attachment_verb(verb)
                .attachment(cid, "eth0")
                .set("CNI_NETNS", &pod.path_str())
                .stdin_json(&self.conf)
                .timeout(OP_TIMEOUT)
        };
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
        let ipam = Plugin::find(self.plugin.dir(), "host-local", self.label)?;
        for verb in ["ADD", "DEL"] {
            let inv = Invocation::attachment_verb(verb).attachment(cid, "eth0").stdin_json(&self.conf);
            let o = ipam.call(&inv);
            o.check_ok().map_err(|e| format!("{}: host-local {verb}: {e}", self.label))?;
            self.ipam_rss_kib = self.ipam_rss_kib.max(o.usage.max_rss_kib);
        }
        Ok(())
    }

    fn leftovers(&self) -> Result<(), String> {
        let held = store::reservations(&self.net_dir).map_err(|e| e.to_string())?;
        if !held.is_empty() {
            return Err(format!("{}: reservations left: {held:?}", self.label));
        }
        self.scenario.leftovers(&self.host, &self.baseline).map_err(|e| format!("{}: {e}", self.label))
    }
}

/// Nearest-rank percentile (p in 0..=100) of an unsorted list.
pub fn percentile(xs: &[Duration], p: f64) -> Duration {
    if xs.is_empty() {
        return Duration::ZERO;
    }
    let mut v = xs.to_vec();
    v.sort();
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

#[derive(Debug, Clone, Copy)]
struct Stats {
    n: usize,
    wall_p50: f64,
    wall_p90: f64,
    wall_p99: f64,
    cpu_p50: f64,
    max_rss_kib: u64,
}

fn stats(samples: &[Sample]) -> Stats {
    let wall: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
    let cpu: Vec<Duration> = samples.iter().map(Sample::cpu).collect();
    Stats {
        n: samples.len(),
        wall_p50: ms(percentile(&wall, 50.0)),
        wall_p90: ms(percentile(&wall, 90.0)),
        wall_p99: ms(percentile(&wall, 99.0)),
        cpu_p50: ms(percentile(&cpu, 50.0)),
        max_rss_kib: samples.iter().map(|s| s.usage.max_rss_kib).max().unwrap_or(0),
    }
}

fn stats_json(s: &Stats) -> Value {
    json!({
        "samples": s.n, "wall_p50_ms": s.wall_p50, "wall_p90_ms": s.wall_p90,
        "wall_p99_ms": s.wall_p99, "cpu_p50_ms": s.cpu_p50, "max_rss_kib": s.max_rss_kib,
    })
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

type Row = (&'static str, &'static str, Stats);

fn find(rows: &[Row], op: &str, label: &str) -> Option<Stats> {
    rows.iter().find(|r| r.0 == op && r.1 == label).map(|r| r.2)
}

fn print_table(rows: &[Row], ipam_rss: &[(&str, u64)]) {
    println!(
        "{:<4} {:<5} {:>4} | {:>9} {:>9} {:>9} | {:>9} | {:>8} {:>9}",
        "op", "impl", "n", "wall p50", "wall p90", "wall p99", "cpu p50", "RSS KiB", "IPAM KiB"
    );
    for (op, label, s) in rows {
        let ipam = ipam_rss.iter().find(|r| r.0 == *label).map(|r| r.1).unwrap_or(0);
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
    println!("(ms; cpu = user+sys of the plugin and its IPAM child; RSS = max ru_maxrss of the plugin process,");
    println!(" which the kernel reports as max(plugin, waited-for IPAM child); IPAM = host-local's peak when");
    println!(" run alone; o/r = ours / ref; p99 of few reps is close to the max)");
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
    let load_start = crate::bench::loadavg();
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
    let load_end = crate::bench::loadavg();
    let mut rows: Vec<Row> = Vec::new();
    for op in ["ADD", "DEL"] {
        for s in &sides {
            rows.push((op, s.label, stats(if op == "ADD" { &s.add } else { &s.del })));
        }
    }
    println!();
    let ipam_rss: Vec<(&str, u64)> = sides.iter().map(|s| (s.label, s.ipam_rss_kib)).collect();
    print_table(&rows, &ipam_rss);
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
            "loadavg_start": load_start,
            "loadavg_end": load_end,
            "binaries": sides.iter().map(|s| json!({"impl": s.label, "path": s.plugin.path().display().to_string()})).collect::<Vec<_>>(),
            "results": rows.iter().map(|(op, l, s)| json!({"op": op, "impl": l, "stats": stats_json(s)})).collect::<Vec<_>>(),
            "ratios_ours_over_ref": ratios,
            "ipam_alone_max_rss_kib": sides.iter().map(|s| json!({"impl": s.label, "max_rss_kib": s.ipam_rss_kib})).collect::<Vec<_>>(),
            "rss_note": "ru_maxrss from wait4 of the plugin process = max(plugin, its waited-for IPAM child)",
        });
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n").map_err(|e| format!("writing {}: {e}", path.display()))?;
        println!("JSON written to {}", path.display());
    }
    Ok(())
}

/// Entry point for `bench <scenario.plugin()> <args>`.
pub fn main(scenario: &'static dyn Scenario, args: &[String]) -> ExitCode {
    let name = scenario.plugin();
    let opts = match parse_opts(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench {name}: {e}\n{}", usage(name));
            return ExitCode::from(2);
        }
    };
    // The bench thread setns()es between host namespaces; run on a thread of
    // its own so the process's main thread stays where it started.
    let res =
        std::thread::spawn(move || run(scenario, &opts)).join().unwrap_or_else(|_| Err("bench thread panicked".into()));
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench {name}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let xs: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&xs, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&xs, 90.0), Duration::from_millis(90));
        assert_eq!(percentile(&xs, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&xs[..1], 99.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn options() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let o = parse_opts(&args(&["--quick", "--ours-only", "--json", "/tmp/x.json"])).unwrap();
        assert_eq!((o.reps, o.ours_only), (10, true));
        assert_eq!(o.json, Some(PathBuf::from("/tmp/x.json")));
        assert_eq!(parse_opts(&args(&["--reps", "7"])).unwrap().reps, 7);
        assert!(parse_opts(&args(&["--reps", "0"])).is_err());
        assert!(parse_opts(&args(&["--frobnicate"])).is_err());
    }
}
