//! `bench ipam-scaling`: host-local ADD/DEL cost as the store grows, ours vs the
//! reference, on a tmpfs store pre-populated in the reference on-disk format.
//!
//! CPU time (user+sys from wait4) is the number to trust; wall time on a shared
//! 2-core box is reported but noisy.

use crate::measure::{loadavg, peak_rss};
use crate::opts::{self, Accepts, Opts};
use crate::stats::{Sample, Summary, ms, summarize};
use serde_json::{Value, json};
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use tempfile::TempDir;
use testkit::binary::{REFERENCE_DIR, our_bin_dir};
use testkit::{Binary, conf, store};

pub const USAGE: &str = "usage: bench ipam-scaling [--json PATH] [--reps K] [--ref-reps K] \
[--ref-budget SECS] [--quick] [--ours-only]

  --reps K         timed ADD+DEL pairs per N for ours (default 21, --quick: 7)
  --ref-reps K     same for the reference (default: --reps, at most 9 for N >= 10000;
                   always capped by --ref-budget, minimum 3)
  --ref-budget S   seconds the reference may spend per N (default 30, --quick: 20)
  --quick          N in {0, 10000}; exit 1 if ours at 10000 costs more than
                   2x ours at 0 (CPU p50) + 1 ms, for ADD or DEL
  --ours-only      skip the reference plugin
  --json PATH      also write the results as JSON

Binaries: ours = $RAILCNI_BIN_DIR/host-local (default <workspace>/target/release),
reference = /usr/lib/cni/host-local.";

const NET: &str = "bench";
const VERSION: &str = "1.0.0"; // the reference's highest version
const SUBNET: &str = "10.20.0.0/16";
/// Default reference reps at N >= 10000 (see --ref-budget for the hard cap).
const REF_REPS_LARGE: usize = 9;
const OP_TIMEOUT: Duration = Duration::from_secs(600);

/// The options [`USAGE`] lists.
const ACCEPTS: Accepts = Accepts {
    options: &["--json", "--reps", "--ref-reps", "--ref-budget", "--quick", "--ours-only"],
    reps: 21,
    quick_reps: 7,
};

/// `--ref-budget`, 30 s by default, 20 s with `--quick`.
fn ref_budget(o: &Opts) -> Duration {
    Duration::from_secs(o.ref_budget.unwrap_or(if o.quick { 20 } else { 30 }) as u64)
}

/// First address the reference allocator hands out in a /16 with the default gateway.
pub const FIRST_HOST: Ipv4Addr = Ipv4Addr::new(10, 20, 0, 2);

/// Writes `n` reservations `FIRST_HOST..` into `net_dir` exactly as the reference
/// host-local would have (`cid\r\nifname`), plus `last_reserved_ip.0` and an
/// empty `lock`, so both implementations start from a store neither wrote.
pub fn populate(net_dir: &Path, n: u32) -> io::Result<()> {
    std::fs::create_dir_all(net_dir)?;
    std::fs::write(net_dir.join("lock"), "")?;
    let base = u32::from(FIRST_HOST);
    for i in 0..n {
        let ip = Ipv4Addr::from(base + i);
        store::write_reservation(net_dir, ip.into(), &format!("bench-pre-{i}"), "eth0")?;
    }
    if n > 0 {
        let last = Ipv4Addr::from(base + n - 1);
        std::fs::write(net_dir.join("last_reserved_ip.0"), last.to_string())?;
    }
    Ok(())
}

/// One implementation's run at one N.
struct Run {
    label: &'static str,
    plugin: Binary,
    _store: TempDir,
    net_dir: PathBuf,
    conf: Value,
    reps: usize,
    first_add: Option<Sample>,
    first_del: Option<Sample>,
    add: Vec<Sample>,
    del: Vec<Sample>,
}

impl Run {
    fn new(label: &'static str, plugin: &Binary, base: &Path, n: u32) -> Result<Run, String> {
        let store = tempfile::Builder::new()
            .prefix("railcni-bench-")
            .tempdir_in(base)
            .map_err(|e| format!("temp store in {}: {e}", base.display()))?;
        let net_dir = store.path().join(NET);
        populate(&net_dir, n).map_err(|e| format!("populating {}: {e}", net_dir.display()))?;
        let conf = conf::host_local_v4(VERSION, NET, store.path(), SUBNET);
        Ok(Run {
            label,
            plugin: plugin.clone(),
            _store: store,
            net_dir,
            conf,
            reps: 0,
            first_add: None,
            first_del: None,
            add: Vec::new(),
            del: Vec::new(),
        })
    }

    /// ADD then DEL of a fresh attachment, so the store size stays at N.
    fn add_del(&self, cid: &str) -> Result<(Sample, Sample), String> {
        let add = testkit::Invocation::add().attachment(cid, "eth0").stdin_json(&self.conf).timeout(OP_TIMEOUT);
        let a = self.plugin.call(&add);
        a.check_ok_json()?;
        let del = testkit::Invocation::del().attachment(cid, "eth0").stdin_json(&self.conf).timeout(OP_TIMEOUT);
        let d = self.plugin.call(&del);
        d.check_ok_silent()?;
        let s = |o: &testkit::Outcome| Sample { wall: o.wall, usage: o.usage };
        Ok((s(&a), s(&d)))
    }

    /// ADD then DEL of a fresh attachment under GNU time: their peak RSS (KiB).
    fn peak_rss(&self, cid: &str) -> Result<u64, String> {
        let add = testkit::Invocation::add().attachment(cid, "eth0").stdin_json(&self.conf);
        let del = testkit::Invocation::del().attachment(cid, "eth0").stdin_json(&self.conf);
        Ok(peak_rss(&self.plugin, &add)?.max(peak_rss(&self.plugin, &del)?))
    }

    fn reservations(&self) -> usize {
        testkit::store::reservations(&self.net_dir).map(|r| r.len()).unwrap_or(0)
    }
}

struct Row {
    n: u32,
    label: &'static str,
    binary: String,
    reps: usize,
    first_add: Sample,
    first_del: Sample,
    add: Summary,
    del: Summary,
    /// Peak RSS of one ADD and one DEL, measured apart (see `peak_rss`).
    rss_kib: u64,
}

fn run_n(n: u32, plugins: &[(&'static str, Binary)], base: &Path, o: &Opts) -> Result<Vec<Row>, String> {
    let mut runs = Vec::new();
    for (label, p) in plugins {
        runs.push(Run::new(label, p, base, n)?);
    }
    // Untimed warm-up, reported as "first op": ours builds its index here.
    for r in &mut runs {
        let (a, d) = r.add_del(&format!("warm-{}", r.label))?;
        r.first_add = Some(a);
        r.first_del = Some(d);
        r.reps = if r.label == "ours" {
            o.reps
        } else {
            // The reference walks every file (~1 s per op at large N on a busy box):
            // fewer reps at N >= 10000, and never more than the time budget allows.
            let pair = (a.wall + d.wall).max(Duration::from_millis(1));
            let fit = (ref_budget(o).as_secs_f64() / pair.as_secs_f64()) as usize;
            let default = if n >= 10_000 { o.reps.min(REF_REPS_LARGE) } else { o.reps };
            o.ref_reps.unwrap_or(default).min(fit.max(3))
        };
    }
    let rounds = runs.iter().map(|r| r.reps).max().unwrap_or(0);
    // A B A B: both see the same machine-load drift.
    for i in 0..rounds {
        for r in &mut runs {
            if i < r.reps {
                let (a, d) = r.add_del(&format!("fresh-{}-{i}", r.label))?;
                r.add.push(a);
                r.del.push(d);
            }
        }
    }
    let mut rows = Vec::new();
    for r in runs {
        let rss_kib = r.peak_rss(&format!("rss-{}", r.label))?;
        let left = r.reservations();
        if left != n as usize {
            return Err(format!("{}: store holds {left} reservations after the run, expected {n}", r.label));
        }
        rows.push(Row {
            n,
            label: r.label,
            binary: r.plugin.path().display().to_string(),
            reps: r.reps,
            first_add: r.first_add.ok_or("no warm-up")?,
            first_del: r.first_del.ok_or("no warm-up")?,
            add: summarize(&r.add),
            del: summarize(&r.del),
            rss_kib,
        });
    }
    Ok(rows)
}

/// CPU p50 of `label` at N relative to N=0.
fn ratio(rows: &[Row], row: &Row, add: bool) -> Option<f64> {
    let base = rows.iter().find(|r| r.n == 0 && r.label == row.label)?;
    let (num, den) =
        if add { (row.add.cpu_p50_ms, base.add.cpu_p50_ms) } else { (row.del.cpu_p50_ms, base.del.cpu_p50_ms) };
    (den > 0.0).then(|| num / den)
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map(|x| format!("{x:.2}x")).unwrap_or_else(|| "-".into())
}

fn print_table(rows: &[Row]) {
    println!(
        "{:>6} {:<5} {:>4} | {:>17} {:>17} | {:>9} {:>9} {:>9} {:>9} | {:>8} {:>8} | {:>7}",
        "N",
        "impl",
        "reps",
        "first ADD w/cpu",
        "first DEL w/cpu",
        "ADD wall",
        "ADD cpu",
        "DEL wall",
        "DEL cpu",
        "ADD N/0",
        "DEL N/0",
        "RSS KiB"
    );
    for r in rows {
        println!(
            "{:>6} {:<5} {:>4} | {:>8.2}/{:<8.2} {:>8.2}/{:<8.2} | {:>9.2} {:>9.2} {:>9.2} {:>9.2} | {:>8} {:>8} | {:>7}",
            r.n,
            r.label,
            r.reps,
            ms(r.first_add.wall),
            ms(r.first_add.cpu()),
            ms(r.first_del.wall),
            ms(r.first_del.cpu()),
            r.add.wall_p50_ms,
            r.add.cpu_p50_ms,
            r.del.wall_p50_ms,
            r.del.cpu_p50_ms,
            fmt_ratio(ratio(rows, r, true)),
            fmt_ratio(ratio(rows, r, false)),
            r.rss_kib,
        );
    }
    println!(
        "(times in ms, p50 over reps; cpu = user+sys of the plugin process; RSS = peak of one ADD+DEL under GNU time)"
    );
}

fn summary_json(s: &Summary) -> Value {
    json!({
        "samples": s.n,
        "wall_p50_ms": s.wall_p50_ms,
        "cpu_p50_ms": s.cpu_p50_ms,
        "wall_min_ms": s.wall_min_ms,
    })
}

fn sample_json(s: &Sample) -> Value {
    json!({ "wall_ms": ms(s.wall), "cpu_ms": ms(s.cpu()) })
}

fn row_json(rows: &[Row], r: &Row) -> Value {
    json!({
        "n": r.n,
        "impl": r.label,
        "binary": r.binary,
        "reps": r.reps,
        "first_add": sample_json(&r.first_add),
        "first_del": sample_json(&r.first_del),
        "add": summary_json(&r.add),
        "del": summary_json(&r.del),
        "add_cpu_ratio_vs_0": ratio(rows, r, true),
        "del_cpu_ratio_vs_0": ratio(rows, r, false),
        "peak_rss_kib": r.rss_kib,
    })
}

/// --quick gate: ours at 10000 within 2x ours at 0 (+1 ms slack), CPU p50.
fn quick_gate(rows: &[Row]) -> Result<String, String> {
    let find = |n| rows.iter().find(|r| r.n == n && r.label == "ours");
    let (Some(zero), Some(big)) = (find(0), find(10_000)) else {
        return Err("quick gate: missing rows for ours".into());
    };
    let mut msgs = Vec::new();
    let mut ok = true;
    for (op, z, b) in
        [("ADD", zero.add.cpu_p50_ms, big.add.cpu_p50_ms), ("DEL", zero.del.cpu_p50_ms, big.del.cpu_p50_ms)]
    {
        let limit = 2.0 * z + 1.0;
        let pass = b <= limit;
        ok &= pass;
        msgs.push(format!(
            "{op}: cpu p50 {b:.2} ms at N=10000 vs limit {limit:.2} ms (2 x {z:.2} + 1) -> {}",
            if pass { "ok" } else { "FAIL" }
        ));
    }
    if ok { Ok(msgs.join("; ")) } else { Err(msgs.join("; ")) }
}

fn store_base() -> (PathBuf, &'static str) {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        (shm.to_path_buf(), "tmpfs /dev/shm")
    } else {
        (std::env::temp_dir(), "system temp dir (no /dev/shm; not tmpfs!)")
    }
}

fn ipam_scaling(o: &Opts) -> Result<bool, String> {
    let ours = Binary::find(&our_bin_dir("release"), "host-local", "ours")
        .map_err(|e| format!("{e}; run `cargo build --release --workspace` first (or set RAILCNI_BIN_DIR)"))?;
    let mut plugins = vec![("ours", ours)];
    if !o.ours_only {
        plugins.push(("ref", Binary::find(Path::new(REFERENCE_DIR), "host-local", "ref")?));
    }
    let ns: &[u32] = if o.quick { &[0, 10_000] } else { &[0, 1_000, 10_000, 60_000] };
    let (base, base_note) = store_base();
    let load_start = loadavg();
    println!("ipam-scaling: host-local, {SUBNET}, cniVersion {VERSION}, store on {base_note}");
    for (l, p) in &plugins {
        println!("  {l}: {}", p.path().display());
    }
    println!("  loadavg at start: {load_start}");
    let mut rows = Vec::new();
    for &n in ns {
        eprintln!("N={n} ...");
        rows.extend(run_n(n, &plugins, &base, o)?);
    }
    let load_end = loadavg();
    println!();
    print_table(&rows);
    println!("loadavg at start: {load_start}; at end: {load_end}");
    let gate = o.quick.then(|| quick_gate(&rows));
    if let Some(g) = &gate {
        match g {
            Ok(m) => println!("quick gate passed: {m}"),
            Err(m) => println!("quick gate FAILED: {m}"),
        }
    }
    if let Some(path) = &o.json {
        let doc = json!({
            "benchmark": "ipam-scaling",
            "subnet": SUBNET,
            "cniVersion": VERSION,
            "store": base_note,
            "loadavg_start": load_start,
            "loadavg_end": load_end,
            "quick_gate": gate.as_ref().map(|g| json!({
                "passed": g.is_ok(),
                "detail": match g { Ok(m) | Err(m) => m },
            })),
            "results": rows.iter().map(|r| row_json(&rows, r)).collect::<Vec<_>>(),
        });
        crate::measure::write_json(path, &doc)?;
    }
    Ok(!matches!(gate, Some(Err(_))))
}

/// Entry point for `bench ipam-scaling <args>`.
pub fn main(args: &[String]) -> ExitCode {
    opts::main("ipam-scaling", USAGE, args, &ACCEPTS, |o| ipam_scaling(&o))
}
