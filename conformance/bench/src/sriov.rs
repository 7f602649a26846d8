//! `bench sriov`: the sriov plugin + host-local ADD and DEL on QEMU's igb VFs,
//! in the VM stage (the host has no SR-IOV). There is no reference to run
//! beside it: Debian does not package sriov-cni. So it reports our own
//! figures, as `bench <plugin>` prints them, and a burst of one ADD per VF at
//! once; `--quick` fails on any failure or on anything left behind (a
//! record, a reservation, a VF not as it was).
//!
//! The plugin runs in the VM's own namespace, where the PF is (see
//! `sriov_lab`), from `$RAILCNI_BIN_DIR`.

use crate::load::Burst;
use crate::measure::peak_rss;
use crate::opts::{self, Accepts};
use crate::scenario::{Row, print_table};
use crate::stats::{Sample, ms, p50, stats};
use serde_json::{Value, json};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use testkit::binary::{Binary, Invocation};
use testkit::lab::sriov::SriovLab;

pub const USAGE: &str = "usage: bench sriov [--reps N] [--quick] [--json PATH]

  --reps N     timed ADD+DEL pairs, round-robin over the VFs (default 50, --quick: 10)
  --quick      also exit 1 on any failure or leftover (there is no reference to compare with)
  --json PATH  also write the results as JSON

Needs the VM stage's igb PF (7 VFs). Binaries: $RAILCNI_BIN_DIR/{sriov,host-local}.";

/// QEMU's igb offers at most 7 VFs.
const VFS: usize = 7;
/// Bursts of one ADD per VF; the median counts.
const BURST_REPS: usize = 3;
const RSS_REPS: usize = 5;

/// The options [`USAGE`] lists.
const ACCEPTS: Accepts = Accepts { options: &["--reps", "--quick", "--json"], reps: 50, quick_reps: 10 };

struct Bench {
    lab: SriovLab,
    confs: Vec<Value>,
}

impl Bench {
    fn new() -> Bench {
        let mut lab = SriovLab::new(VFS);
        for _ in 0..VFS {
            lab.add_pod();
        }
        let confs = (0..VFS).map(|vf| lab.conf(vf, json!({}), Some("10.91.0.0/16"))).collect();
        Bench { lab, confs }
    }

    /// VF `vf` into pod `vf` and back: the two runs.
    fn add_del(&self, vf: usize) -> Result<(Sample, Sample), String> {
        let add = self.lab.add(vf, "net1", &self.confs[vf]);
        let prev = add.json().map_err(|e| format!("ADD: {e}\n{}", add.describe()))?;
        add.check_ok().map_err(|e| format!("ADD: {e}"))?;
        let del = self.lab.del(vf, "net1", &self.confs[vf], &prev);
        del.check_ok().map_err(|e| format!("DEL: {e}"))?;
        Ok((Sample { wall: add.wall, usage: add.usage }, Sample { wall: del.wall, usage: del.usage }))
    }

    fn invocation(&self, verb: Invocation, vf: usize, conf: &Value) -> Invocation {
        verb.attachment(&self.lab.cid(vf), "net1").set("CNI_NETNS", &self.lab.pod(vf).path_str()).stdin_json(conf)
    }

    /// Peak RSS (KiB) of an ADD and of its DEL, under GNU time.
    fn rss(&self, vf: usize) -> Result<(u64, u64), String> {
        let plugin = Binary::ours("sriov");
        let add = peak_rss(&plugin, &self.invocation(Invocation::add(), vf, &self.confs[vf]))?;
        // The DEL needs no prevResult: the plugin's record names the VF.
        let del = peak_rss(&plugin, &self.invocation(Invocation::del(), vf, &self.confs[vf]))?;
        Ok((add, del))
    }

    /// One ADD per VF at once, then one DEL per VF at once.
    fn burst(&self) -> Burst {
        let run_all = |verb: fn() -> Invocation| {
            let start = Instant::now();
            let failed = std::thread::scope(|s| {
                let runs: Vec<_> = (0..VFS)
                    .map(|vf| {
                        let inv = self.invocation(verb(), vf, &self.confs[vf]);
                        s.spawn(move || Binary::ours("sriov").call(&inv).success())
                    })
                    .collect();
                runs.into_iter().map(|r| r.join().unwrap_or(false)).filter(|ok| !ok).count()
            });
            (start.elapsed(), failed)
        };
        let (add_wall, add_failed) = run_all(Invocation::add);
        let (del_wall, del_failed) = run_all(Invocation::del);
        Burst { pods: VFS, add_wall, del_wall, failures: add_failed + del_failed }
    }

    /// Records, reservations, and every VF as it was before.
    fn leftovers(&self, before: &[String]) -> Result<(), String> {
        let (records, held) = (self.lab.records(), self.lab.reservations());
        if !records.is_empty() || !held.is_empty() {
            return Err(format!("left behind: records {records:?}, reservations {held:?}"));
        }
        for (vf, was) in before.iter().enumerate() {
            let now = self.lab.snapshot(vf);
            if &now != was {
                return Err(format!("VF {vf} not restored:\nbefore: {was}\nafter:  {now}"));
            }
        }
        Ok(())
    }
}

fn run(reps: usize, quick: bool, json_path: Option<&Path>) -> Result<(), String> {
    let b = Bench::new();
    let before: Vec<String> = (0..VFS).map(|vf| b.lab.snapshot(vf)).collect();
    let load_start = crate::measure::loadavg();
    println!(
        "bench sriov: {VFS} VFs of {} (igb) + host-local, cniVersion {}, {reps} reps",
        b.lab.pf, b.confs[0]["cniVersion"]
    );
    println!("  ours: {} (no reference: sriov-cni is not packaged)", Binary::ours("sriov").path().display());
    println!("  loadavg at start: {load_start}");
    b.add_del(0)?; // untimed warm-up
    let (mut adds, mut dels) = (Vec::new(), Vec::new());
    for i in 0..reps {
        let (a, d) = b.add_del(i % VFS)?;
        adds.push(a);
        dels.push(d);
    }
    let (mut add_rss, mut del_rss) = (0, 0);
    for vf in 0..reps.min(RSS_REPS) {
        let (a, d) = b.rss(vf)?;
        (add_rss, del_rss) = (add_rss.max(a), del_rss.max(d));
    }
    let bursts: Vec<Burst> = (0..BURST_REPS).map(|_| b.burst()).collect();
    b.leftovers(&before)?;
    let mut rows: Vec<Row> = Vec::new();
    for (op, samples, rss) in [("ADD", &adds, add_rss), ("DEL", &dels, del_rss)] {
        let mut st = stats(samples);
        st.max_rss_kib = rss;
        rows.push((op, "ours", st));
    }
    println!();
    print_table(&rows, &[]);
    let median = |f: fn(&Burst) -> Duration| p50(&bursts.iter().map(f).collect::<Vec<_>>());
    let burst = Burst {
        pods: VFS,
        add_wall: median(|b| b.add_wall),
        del_wall: median(|b| b.del_wall),
        failures: bursts.iter().map(|b| b.failures).sum(),
    };
    println!(
        "\n{VFS} pods at once, one VF each (median of {BURST_REPS}): {:.1} ADD/s, {:.1} DEL/s, {} failures",
        burst.adds_per_sec(),
        burst.dels_per_sec(),
        burst.failures
    );
    let load_end = crate::measure::loadavg();
    println!("loadavg at start: {load_start}; at end: {load_end}");
    if let Some(path) = json_path {
        let doc = json!({
            "benchmark": "sriov",
            "conf": b.confs[0],
            "reps": reps,
            "loadavg_start": load_start,
            "loadavg_end": load_end,
            "results": rows.iter().map(|(op, _, s)| json!({
                "op": op, "wall_p50_ms": s.wall_p50, "wall_p90_ms": s.wall_p90, "wall_p99_ms": s.wall_p99,
                "cpu_p50_ms": s.cpu_p50, "max_rss_kib": s.max_rss_kib,
            })).collect::<Vec<_>>(),
            "burst": { "pods": VFS, "add_per_sec": burst.adds_per_sec(), "del_per_sec": burst.dels_per_sec(),
                       "add_wall_ms": ms(burst.add_wall), "failures": burst.failures },
        });
        crate::measure::write_json(path, &doc)?;
    }
    if burst.failures > 0 {
        return Err(format!("{} of the concurrent operations failed", burst.failures));
    }
    if quick {
        println!("--quick: no failures, nothing left behind, every VF restored");
    }
    Ok(())
}

/// Entry point for `bench sriov <args>`. SriovLab panics on a broken lab:
/// that is a failed bench, not a crash.
pub fn main(args: &[String]) -> ExitCode {
    opts::main("sriov", USAGE, args, &ACCEPTS, |o| run(o.reps, o.quick, o.json.as_deref()).map(|()| true))
}
