//! `bench rails`: what per-rail policy routing adds to an ADD and a DEL.
//!
//! One "host" namespace with 8 veth parents; each rep is a fresh pod that
//! gets 8 rails (`net1`..`net8`, macvlan on `par<k>`, host-local, one
//! network per rail, as Multus would delegate them one after the other),
//! then loses them again in reverse order. Three variants, alternated rep
//! by rep so they see the same load drift:
//!
//! - `plain`: our macvlan, no `policyRouting`;
//! - `policy`: our macvlan with `policyRouting: {}` (table, rules, RDMA sysctls);
//! - `ref+sbr`: the reference macvlan chained with the reference sbr (the
//!   two plugin runs of one rail summed), what people run today.
//!
//! Every ADD and DEL is one sample per rail. The added cost per rail is the
//! p50 of `policy` minus the p50 of `plain`.

use crate::opts::{self, Accepts, Opts};
use crate::stats::{Sample, ms, p50};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use tempfile::TempDir;
use testkit::binary::{Binary, Invocation, REFERENCE_DIR, our_bin_dir};
use testkit::netns::{Namespace, have_root, unique_prefix};
use testkit::profile::{MACVLAN, Profile};
use testkit::{Outcome, conf};

const VERSION: &str = "1.0.0";
const RAILS: u32 = 8;
const OP_TIMEOUT: Duration = Duration::from_secs(120);

/// The options [`USAGE`] lists.
const ACCEPTS: Accepts = Accepts { options: &["--reps", "--quick", "--json", "--ours-only"], reps: 20, quick_reps: 5 };

pub const USAGE: &str = "usage: bench rails [--reps N] [--quick] [--json PATH] [--ours-only]

  --reps N      pods per variant, each with 8 rails (default 20)
  --quick       5 pods
  --ours-only   skip the reference macvlan + sbr chain
  --json PATH   also write the results as JSON

Binaries: ours = $RAILCNI_BIN_DIR/{macvlan,host-local} (default <workspace>/target/release),
reference = /usr/lib/cni/{macvlan,sbr,host-local}. Needs root.";

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Plain,
    Policy,
    RefSbr,
}

impl Variant {
    fn label(self) -> &'static str {
        match self {
            Variant::Plain => "plain",
            Variant::Policy => "policy",
            Variant::RefSbr => "ref+sbr",
        }
    }
}

struct Side {
    variant: Variant,
    macvlan: Binary,
    sbr: Option<Binary>,
    store: TempDir,
    add: Vec<Sample>,
    del: Vec<Sample>,
}

impl Side {
    fn new(variant: Variant) -> Result<Side, String> {
        let dir = if variant == Variant::RefSbr { PathBuf::from(REFERENCE_DIR) } else { our_bin_dir("release") };
        let macvlan = Binary::find(&dir, "macvlan", "bench")?;
        Binary::find(&dir, "host-local", "bench")?;
        let sbr = (variant == Variant::RefSbr).then(|| Binary::find(&dir, "sbr", "bench")).transpose()?;
        let base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
        let store = tempfile::Builder::new()
            .prefix("railcni-bench-rails-")
            .tempdir_in(base)
            .map_err(|e| format!("temp store: {e}"))?;
        Ok(Side { variant, macvlan, sbr, store, add: Vec::new(), del: Vec::new() })
    }

    /// Rail `k`'s macvlan config: its parent, its subnet, a default route.
    fn conf(&self, k: u32) -> Value {
        let mut c = MACVLAN.keys_on(self.store.path(), &format!("par{k}"));
        c["cniVersion"] = json!(VERSION);
        c["name"] = json!(format!("rail{k}"));
        c["ipam"] = Profile::host_local(self.store.path(), json!([[{ "subnet": format!("10.90.{k}.0/24") }]]));
        c["ipam"]["routes"] = json!([{ "dst": "0.0.0.0/0" }]);
        if self.variant == Variant::Policy {
            c["policyRouting"] = json!({});
        }
        c
    }

    fn call(
        &self,
        plugin: &Binary,
        verb: &str,
        pod: &Namespace,
        cid: &str,
        k: u32,
        stdin: &Value,
    ) -> Result<Outcome, String> {
        let inv = Invocation::attachment_verb(verb)
            .attachment(cid, &format!("net{k}"))
            .set("CNI_NETNS", &pod.path_str())
            .stdin_json(stdin)
            .timeout(OP_TIMEOUT);
        let o = plugin.call(&inv);
        let ok = if verb == "ADD" { o.check_ok_json().map(drop) } else { o.check_ok_silent() };
        ok.map_err(|e| format!("{} {verb} rail {k}: {e}", self.variant.label()))?;
        Ok(o)
    }

    /// One pod: 8 rails ADDed in order, then DELed in reverse; returns the samples.
    fn pod(&mut self, host: &Namespace, cid: &str) -> Result<(), String> {
        let pod = Namespace::create(&format!("{}-{cid}", host.name()))?;
        host.enter_current_thread()?;
        let mut prevs = Vec::new();
        for k in 1..=RAILS {
            let c = self.conf(k);
            let a = self.call(&self.macvlan, "ADD", &pod, cid, k, &c)?;
            let mut sample = Sample { wall: a.wall, usage: a.usage };
            let mut result = a.json()?;
            if let Some(sbr) = &self.sbr {
                let chained = json!({ "cniVersion": VERSION, "name": format!("rail{k}"), "type": "sbr" });
                let s = self.call(sbr, "ADD", &pod, cid, k, &conf::with_prev_result(&chained, &result))?;
                add_to(&mut sample, &s);
                result = s.json()?;
            }
            self.add.push(sample);
            prevs.push(result);
        }
        // Untimed: the variant did what it claims (3 default rules, plus one per rail with policy routing).
        let want = if self.variant == Variant::Plain { 3 } else { 3 + RAILS as usize };
        let rules = pod.ip(&["rule"])?;
        if rules.lines().count() != want {
            return Err(format!("{}: expected {want} rules after ADD:\n{rules}", self.variant.label()));
        }
        for k in (1..=RAILS).rev() {
            let prev = &prevs[k as usize - 1];
            let mut sample = Sample { wall: Duration::ZERO, usage: Default::default() };
            if let Some(sbr) = &self.sbr {
                let chained = json!({ "cniVersion": VERSION, "name": format!("rail{k}"), "type": "sbr" });
                let s = self.call(sbr, "DEL", &pod, cid, k, &conf::with_prev_result(&chained, prev))?;
                add_to(&mut sample, &s);
            }
            let d = self.call(&self.macvlan, "DEL", &pod, cid, k, &conf::with_prev_result(&self.conf(k), prev))?;
            add_to(&mut sample, &d);
            self.del.push(sample);
        }
        let rules = pod.ip(&["rule"])?;
        if rules.lines().count() != 3 {
            return Err(format!("{}: rules left after DEL:\n{rules}", self.variant.label()));
        }
        Ok(())
    }
}

fn add_to(sample: &mut Sample, o: &Outcome) {
    sample.wall += o.wall;
    sample.usage.user += o.usage.user;
    sample.usage.sys += o.usage.sys;
    sample.usage.max_rss_kib = sample.usage.max_rss_kib.max(o.usage.max_rss_kib);
}

fn p50s(samples: &[Sample]) -> (f64, f64) {
    let wall: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
    let cpu: Vec<Duration> = samples.iter().map(Sample::cpu).collect();
    (ms(p50(&wall)), ms(p50(&cpu)))
}

fn run(o: &Opts) -> Result<(), String> {
    if !have_root() {
        return Err("bench rails needs root (network namespaces)".into());
    }
    let host = Namespace::create(&unique_prefix("rcrbench"))?;
    for k in 1..=RAILS {
        host.ip(&["link", "add", &format!("par{k}"), "type", "veth", "peer", "name", &format!("peer{k}")])?;
        host.ip(&["link", "set", &format!("par{k}"), "up"])?;
        host.ip(&["link", "set", &format!("peer{k}"), "up"])?;
    }
    let mut variants = vec![Variant::Plain, Variant::Policy];
    if !o.ours_only {
        variants.push(Variant::RefSbr);
    }
    let mut sides = variants.into_iter().map(Side::new).collect::<Result<Vec<_>, _>>()?;
    let load_start = crate::measure::loadavg();
    println!(
        "bench rails: {RAILS} rails per pod (macvlan on 8 veth parents + host-local), cniVersion {VERSION}, {} pods per variant",
        o.reps
    );
    for s in &sides {
        println!("  {}: {}", s.variant.label(), s.macvlan.path().display());
    }
    for s in &mut sides {
        // Untimed warm-up: page cache, store directories.
        s.pod(&host, "warm")?;
        s.add.clear();
        s.del.clear();
    }
    for i in 0..o.reps {
        for s in &mut sides {
            s.pod(&host, &format!("p{i}"))?;
        }
    }
    let load_end = crate::measure::loadavg();
    println!();
    println!(
        "{:<8} {:>5} | {:>13} {:>13} | {:>13} {:>13}",
        "variant", "n", "ADD wall p50", "ADD cpu p50", "DEL wall p50", "DEL cpu p50"
    );
    let mut rows = Vec::new();
    for s in &sides {
        let ((aw, ac), (dw, dc)) = (p50s(&s.add), p50s(&s.del));
        println!("{:<8} {:>5} | {aw:>13.2} {ac:>13.2} | {dw:>13.2} {dc:>13.2}", s.variant.label(), s.add.len());
        rows.push(json!({
            "variant": s.variant.label(), "samples": s.add.len(),
            "add_wall_p50_ms": aw, "add_cpu_p50_ms": ac, "del_wall_p50_ms": dw, "del_cpu_p50_ms": dc,
        }));
    }
    let (plain, policy) = ((p50s(&sides[0].add), p50s(&sides[0].del)), (p50s(&sides[1].add), p50s(&sides[1].del)));
    let added = json!({
        "add_wall_ms": policy.0.0 - plain.0.0, "add_cpu_ms": policy.0.1 - plain.0.1,
        "del_wall_ms": policy.1.0 - plain.1.0, "del_cpu_ms": policy.1.1 - plain.1.1,
    });
    println!(
        "policy routing adds per rail: ADD {:+.2} ms wall, {:+.2} ms cpu; DEL {:+.2} ms wall, {:+.2} ms cpu (p50 policy - p50 plain)",
        policy.0.0 - plain.0.0,
        policy.0.1 - plain.0.1,
        policy.1.0 - plain.1.0,
        policy.1.1 - plain.1.1
    );
    println!(
        "(ms per rail; cpu = user+sys of the plugin processes and their IPAM children; ref+sbr = the two runs summed)"
    );
    println!("loadavg at start: {load_start}; at end: {load_end}");
    if let Some(path) = &o.json {
        let doc = json!({
            "benchmark": "rails", "rails_per_pod": RAILS, "pods_per_variant": o.reps, "cniVersion": VERSION,
            "loadavg_start": load_start, "loadavg_end": load_end, "per_rail": rows, "policy_added_per_rail": added,
        });
        crate::measure::write_json(path, &doc)?;
    }
    Ok(())
}

/// Entry point for `bench rails <args>`.
pub fn main(args: &[String]) -> ExitCode {
    opts::main("rails", USAGE, args, &ACCEPTS, |o| run(&o).map(|()| true))
}
