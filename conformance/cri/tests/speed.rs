//! Speed: the CNI share of RunPodSandbox, taken from containerd's own log
//! timestamps, for railcni and for Debian's reference plugins, alternating
//! pod by pod in one run, each on its own containerd and a bridge +
//! host-local conflist. It prints the figures (run with --nocapture; the
//! README's come from conformance/test.sh, on the static release builds
//! through RAILCNI_BIN_DIR) and asserts only that every pod was timed.

use cri::timing::{RunPodTiming, run_pod_timing};
use cri::{Plugins, Stage, conflists};
use std::time::Duration;

/// Timed pods per side, after one untimed pod that creates the bridge.
const PODS: usize = 20;

#[test]
fn cni_share_of_run_pod_sandbox_railcni_and_reference() {
    let sides = [(Plugins::Railcni, "10.123.11.0/24"), (Plugins::Reference, "10.123.12.0/24")];
    let mut stages: Vec<Stage> = sides
        .iter()
        .enumerate()
        .map(|(i, (plugins, subnet))| {
            let bridge = format!("rcs{i}{}", std::process::id() % 1_000_000);
            Stage::start(*plugins, |data_dir| conflists::bridge("railcni-cri-speed", &bridge, subnet, data_dir))
        })
        .collect();
    let mut timings: Vec<Vec<RunPodTiming>> = vec![Vec::new(); sides.len()];
    for round in 0..=PODS {
        for (side, stage) in stages.iter_mut().enumerate() {
            let name = format!("speed-{round}");
            let pod = stage.run_pod(&name);
            stage.remove_pod(&pod.id);
            if round == 0 {
                continue;
            }
            let log = std::fs::read_to_string(stage.containerd.log()).expect("containerd log");
            let timing = run_pod_timing(&log, &stage.pod_uid(&name), &pod.id);
            timings[side].push(timing.unwrap_or_else(|| panic!("no RunPodSandbox timing for {} in the log", pod.id)));
        }
    }

    let version = stages[0].cri.version().expect("Version");
    // Wall-clock spans: the machine's load is part of the figures.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\nCNI share of RunPodSandbox, {} {} (CRI {}), {PODS} pods per side, alternating; medians [min-max]; load average {}:",
        version.runtime_name,
        version.runtime_version,
        version.runtime_api_version,
        load.split(' ').next().unwrap_or("?"),
    );
    println!("| plugins | RunPodSandbox | CNI setup (loopback + bridge + host-local) | CNI share |");
    println!("|---|---|---|---|");
    for ((plugins, _), timings) in sides.iter().zip(&timings) {
        let total: Vec<Duration> = timings.iter().map(|t| t.total).collect();
        let cni: Vec<Duration> = timings.iter().map(|t| t.cni).collect();
        let share: Vec<f64> = timings.iter().map(|t| t.cni.as_secs_f64() / t.total.as_secs_f64() * 100.0).collect();
        println!(
            "| {} | {} | {} | {:.0} % [{:.0}-{:.0}] |",
            plugins.label(),
            ms(&total),
            ms(&cni),
            median(&share),
            share.iter().copied().fold(f64::MAX, f64::min),
            share.iter().copied().fold(0.0, f64::max),
        );
    }
}

/// "12.3 ms [10.1-15.0]": the median and the range.
fn ms(values: &[Duration]) -> String {
    let ms: Vec<f64> = values.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    let (min, max) = (ms.iter().copied().fold(f64::MAX, f64::min), ms.iter().copied().fold(0.0, f64::max));
    format!("{:.1} ms [{min:.1}-{max:.1}]", median(&ms))
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 }
}
