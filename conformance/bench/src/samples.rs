//! Building blocks of the `bench` binary: synthetic host-local stores and
//! sample statistics.

use std::io;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;
use testkit::binary::{Binary, Invocation};
use testkit::exec::Usage;
use testkit::store;

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
}

pub fn summarize(samples: &[Sample]) -> Summary {
    Summary {
        n: samples.len(),
        wall_p50_ms: ms(p50(samples.iter().map(|s| s.wall).collect())),
        cpu_p50_ms: ms(p50(samples.iter().map(Sample::cpu).collect())),
        wall_min_ms: samples.iter().map(|s| ms(s.wall)).fold(f64::INFINITY, f64::min),
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

/// The peak RSS (KiB) of `plugin` and its waited-for children, run under
/// GNU time. `wait4`'s `ru_maxrss` cannot give it from here: at exec the
/// kernel folds the exec'ing mm's high-water mark into it, and a child
/// spawned by this process starts out as this process (about 2.5 MiB of it).
/// time's own image is the floor instead: about 0.4 MiB.
pub fn peak_rss(plugin: &Binary, inv: &Invocation) -> Result<u64, String> {
    let out = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    let path = out.path().display().to_string();
    let o = plugin.call_under(&[TIME, "-f", "%M", "-o", &path], inv);
    o.check_ok().map_err(|e| format!("{e} (is {TIME} installed? Debian package `time`)"))?;
    let text = std::fs::read_to_string(out.path()).map_err(|e| e.to_string())?;
    text.trim().lines().last().and_then(|l| l.trim().parse().ok()).ok_or_else(|| format!("{TIME} wrote {text:?}"))
}

/// GNU time, the launcher [`peak_rss`] measures through.
const TIME: &str = "/usr/bin/time";
