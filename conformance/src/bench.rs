//! Building blocks of the `bench` binary: synthetic host-local stores and
//! sample statistics.

use crate::exec::Usage;
use crate::store;
use std::io;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

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

/// Median of a non-empty list (upper median for even lengths); zero if empty.
pub fn p50(mut xs: Vec<Duration>) -> Duration {
    if xs.is_empty() {
        return Duration::ZERO;
    }
    xs.sort();
    xs[xs.len() / 2]
}

/// Summary of a sample list, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub n: usize,
    pub wall_p50_ms: f64,
    pub cpu_p50_ms: f64,
    pub wall_min_ms: f64,
    pub max_rss_kib_p50: u64,
}

pub fn summarize(samples: &[Sample]) -> Summary {
    let mut rss: Vec<u64> = samples.iter().map(|s| s.usage.max_rss_kib).collect();
    rss.sort_unstable();
    Summary {
        n: samples.len(),
        wall_p50_ms: ms(p50(samples.iter().map(|s| s.wall).collect())),
        cpu_p50_ms: ms(p50(samples.iter().map(Sample::cpu).collect())),
        wall_min_ms: samples.iter().map(|s| ms(s.wall)).fold(f64::INFINITY, f64::min),
        max_rss_kib_p50: rss.get(rss.len() / 2).copied().unwrap_or(0),
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The three numbers of /proc/loadavg, or a note why not.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|e| format!("unavailable ({e})"))
}
