//! Sample statistics, one definition for every bench: p50 is the
//! nearest-rank 50th percentile (the lower median for an even count).

use serde_json::{Value, json};
use std::time::Duration;
use testkit::Usage;

/// One timed plugin run.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub wall: Duration,
    pub usage: Usage,
}

impl Sample {
    pub fn cpu(&self) -> Duration {
        self.usage.cpu()
    }
}

/// Summary of a sample list, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub n: usize,
    pub wall_p50_ms: f64,
    pub cpu_p50_ms: f64,
    pub wall_min_ms: f64,
}

pub fn summarize(samples: &[Sample]) -> Summary {
    Summary {
        n: samples.len(),
        wall_p50_ms: ms(p50(&samples.iter().map(|s| s.wall).collect::<Vec<_>>())),
        cpu_p50_ms: ms(p50(&samples.iter().map(Sample::cpu).collect::<Vec<_>>())),
        wall_min_ms: samples.iter().map(|s| ms(s.wall)).fold(f64::INFINITY, f64::min),
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The median every bench reports: [`percentile`] 50.
pub fn p50(xs: &[Duration]) -> Duration {
    percentile(xs, 50.0)
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
pub struct Stats {
    pub n: usize,
    pub wall_p50: f64,
    pub wall_p90: f64,
    pub wall_p99: f64,
    pub cpu_p50: f64,
    pub max_rss_kib: u64,
}

pub fn stats(samples: &[Sample]) -> Stats {
    let wall: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
    let cpu: Vec<Duration> = samples.iter().map(Sample::cpu).collect();
    Stats {
        n: samples.len(),
        wall_p50: ms(percentile(&wall, 50.0)),
        wall_p90: ms(percentile(&wall, 90.0)),
        wall_p99: ms(percentile(&wall, 99.0)),
        cpu_p50: ms(percentile(&cpu, 50.0)),
        max_rss_kib: 0, // from the separate RSS runs
    }
}

pub fn stats_json(s: &Stats) -> Value {
    json!({
        "samples": s.n, "wall_p50_ms": s.wall_p50, "wall_p90_ms": s.wall_p90,
        "wall_p99_ms": s.wall_p99, "cpu_p50_ms": s.cpu_p50, "max_rss_kib": s.max_rss_kib,
    })
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
        assert_eq!(p50(&xs[..4]), Duration::from_millis(2), "the lower median of an even count");
    }
}
