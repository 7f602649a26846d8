//! Where a RunPodSandbox's time goes, from containerd's own log (debug
//! level): the CRI plugin logs the call's start and return, and, around
//! the CNI ADDs (loopback's and the conflist's), "begin cni setup" and
//! "cni result". No clock of the test's is involved.

use std::time::Duration;

#[derive(Clone, Copy, Debug)]
pub struct RunPodTiming {
    /// From "RunPodSandbox for" to its "returns sandbox id".
    pub total: Duration,
    /// From "begin cni setup" to "cni result".
    pub cni: Duration,
}

/// The timing of the RunPodSandbox that created sandbox `id` for the pod
/// whose metadata UID is `uid`, if the log holds all four lines.
pub fn run_pod_timing(log: &str, uid: &str, id: &str) -> Option<RunPodTiming> {
    let uid = format!("Uid:{uid},");
    let returned = format!(r#"returns sandbox id \"{id}\""#);
    let sandbox = format!("podsandboxid={id}");
    let at = |pred: &dyn Fn(&str) -> bool| log.lines().find(|l| pred(l)).and_then(timestamp);
    let start = at(&|l| {
        l.contains(r#"msg="RunPodSandbox for &PodSandboxMetadata{"#) && l.contains(&uid) && !l.contains("returns")
    })?;
    let end = at(&|l| l.contains(r#"msg="RunPodSandbox for"#) && l.contains(&returned))?;
    let cni_start = at(&|l| l.contains(r#"msg="begin cni setup""#) && l.contains(&sandbox))?;
    let cni_end = at(&|l| l.contains(r#"msg="cni result: "#) && l.contains(&sandbox))?;
    Some(RunPodTiming { total: since(start, end)?, cni: since(cni_start, cni_end)? })
}

fn since(from: i128, to: i128) -> Option<Duration> {
    u64::try_from(to - from).ok().map(Duration::from_nanos)
}

/// A logrus line's `time="2026-12-06T07:09:29.122181113Z"`, in
/// nanoseconds since 1970 (UTC, as containerd logs it).
fn timestamp(line: &str) -> Option<i128> {
    let t = line.strip_prefix("time=\"")?.split('"').next()?.strip_suffix('Z')?;
    let (date, clock) = t.split_once('T')?;
    let mut ymd = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (ymd.next()??, ymd.next()??, ymd.next()??);
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, "0"));
    let mut hms = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (hms.next()??, hms.next()??, hms.next()??);
    let nanos: i128 = format!("{frac:0<9}").get(..9)?.parse().ok()?;
    let secs = days_from_civil(y, m, d) * 86_400 + h * 3600 + min * 60 + s;
    Some(i128::from(secs) * 1_000_000_000 + nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_four_lines_of_one_pod() {
        let log = r#"time="2026-12-06T23:59:59.900000000Z" level=info msg="RunPodSandbox for &PodSandboxMetadata{Name:x,Uid:u-x,Namespace:n,Attempt:0,}"
time="2026-12-06T23:59:59.950000000Z" level=debug msg="begin cni setup" podsandboxid=abc
time="2026-12-06T23:59:59.990000000Z" level=debug msg="begin cni setup" podsandboxid=other
time="2026-12-07T00:00:00.000000001Z" level=debug msg="cni result: {}" podsandboxid=abc
time="2026-12-07T00:00:00.100000000Z" level=info msg="RunPodSandbox for &PodSandboxMetadata{Name:x,Uid:u-x,Namespace:n,Attempt:0,} returns sandbox id \"abc\"""#;
        let t = run_pod_timing(log, "u-x", "abc").unwrap();
        assert_eq!(t.total, Duration::from_millis(200));
        assert_eq!(t.cni, Duration::from_nanos(50_000_001));
        assert!(run_pod_timing(log, "u-y", "abc").is_none());
    }

    #[test]
    fn days_since_1970() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }
}
