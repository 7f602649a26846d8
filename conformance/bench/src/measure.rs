//! What the benches read besides the plugin's own times: the machine's
//! load, and a plugin tree's peak RSS.

use testkit::binary::{Binary, Invocation};

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

/// Writes a bench's results to `path` as pretty JSON, and says so.
pub fn write_json(path: &std::path::Path, doc: &serde_json::Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(doc).map_err(|e| e.to_string())?;
    std::fs::write(path, text + "\n").map_err(|e| format!("writing {}: {e}", path.display()))?;
    println!("JSON written to {}", path.display());
    Ok(())
}
