//! The one option parser of every `bench` subcommand, and their common entry
//! point ([`main`]). Each subcommand names the options it takes (its usage
//! text lists them) and its default number of reps with and without
//! `--quick`; the rest is the same for all.

use std::path::PathBuf;
use std::process::ExitCode;

/// The options of every bench; a bench reads the ones it accepts.
#[derive(Debug)]
pub struct Opts {
    /// Timed repetitions (what one rep is depends on the bench).
    pub reps: usize,
    pub quick: bool,
    pub ours_only: bool,
    pub json: Option<PathBuf>,
    pub markdown: bool,
    /// Concurrent pods per burst (`bench <plugin>`).
    pub bursts: Vec<usize>,
    pub burst_reps: usize,
    /// ADD->DEL cycles through libcni (`bench <plugin>`).
    pub libcni: usize,
    /// The reference's reps and seconds per store size (`bench ipam-scaling`).
    pub ref_reps: Option<usize>,
    pub ref_budget: Option<usize>,
}

/// What a bench accepts: its options, and its reps by default and with `--quick`.
pub struct Accepts {
    pub options: &'static [&'static str],
    pub reps: usize,
    pub quick_reps: usize,
}

/// Options that take no value.
const FLAGS: [&str; 3] = ["--quick", "--ours-only", "--markdown"];

/// Parses `args` against `accepts`. `--quick` sets the quick defaults
/// whichever its place; an explicit value wins over them.
pub fn parse(args: &[String], accepts: &Accepts) -> Result<Opts, String> {
    let mut given: Vec<(&str, Option<&str>)> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if !accepts.options.contains(&a.as_str()) {
            return Err(format!("unknown option {a}"));
        }
        let value = if FLAGS.contains(&a.as_str()) {
            None
        } else {
            Some(it.next().ok_or(format!("{a} needs a value"))?.as_str())
        };
        given.push((a, value));
    }
    let flag = |name: &str| given.iter().any(|(n, _)| *n == name);
    let value = |name: &str| given.iter().rev().find(|(n, _)| *n == name).and_then(|(_, v)| *v);
    let num = |name: &str| -> Result<Option<usize>, String> {
        value(name).map(|v| v.parse().map_err(|_| format!("{name}: not a number"))).transpose()
    };
    let quick = flag("--quick");
    let bursts = match value("--bursts") {
        Some(list) => {
            let mut sizes = list
                .split(',')
                .map(|n| n.parse().map_err(|_| format!("--bursts: {list:?}")))
                .collect::<Result<Vec<usize>, _>>()?;
            sizes.retain(|&n| n > 0);
            sizes
        }
        None if quick => vec![8],
        None => vec![2, 4, 8, 32],
    };
    let o = Opts {
        reps: num("--reps")?.unwrap_or(if quick { accepts.quick_reps } else { accepts.reps }),
        quick,
        ours_only: flag("--ours-only"),
        json: value("--json").map(PathBuf::from),
        markdown: flag("--markdown"),
        bursts,
        burst_reps: num("--burst-reps")?.unwrap_or(if quick { 1 } else { 3 }),
        libcni: num("--libcni")?.unwrap_or(if quick { 5 } else { 20 }),
        ref_reps: num("--ref-reps")?,
        ref_budget: num("--ref-budget")?,
    };
    if o.reps == 0 || o.burst_reps == 0 {
        return Err("--reps and --burst-reps must be at least 1".into());
    }
    Ok(o)
}

/// The entry point of `bench NAME`: parses `args` against `accepts` (exit
/// status 2 and `usage` if they do not fit), then runs the bench on a thread
/// of its own, so that a bench that `setns`es, or panics in a lab, leaves
/// the main thread as it started. Exit status 0 if it returns `Ok(true)`, 1
/// if `Ok(false)` (a gate failed) or an error.
pub fn main<F>(name: &str, usage: &str, args: &[String], accepts: &Accepts, bench: F) -> ExitCode
where
    F: FnOnce(Opts) -> Result<bool, String> + Send + 'static,
{
    let opts = match parse(args, accepts) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench {name}: {e}\n{usage}");
            return ExitCode::from(2);
        }
    };
    match std::thread::spawn(move || bench(opts)).join() {
        Ok(Ok(true)) => ExitCode::SUCCESS,
        Ok(Ok(false)) => ExitCode::FAILURE,
        Ok(Err(e)) => {
            eprintln!("bench {name}: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("bench {name}: the bench panicked (see above)");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let accepts = Accepts {
            options: &[
                "--reps",
                "--bursts",
                "--burst-reps",
                "--libcni",
                "--quick",
                "--json",
                "--markdown",
                "--ours-only",
            ],
            reps: 50,
            quick_reps: 10,
        };
        let parse_opts = |v: &[&str]| parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &accepts);
        let o = parse_opts(&["--quick", "--ours-only", "--json", "/tmp/x.json"]).unwrap();
        assert_eq!((o.reps, o.ours_only, o.quick), (10, true, true));
        assert_eq!(parse_opts(&["--bursts", "2,0,32"]).unwrap().bursts, [2, 32]);
        assert_eq!((o.burst_reps, parse_opts(&[]).unwrap().burst_reps), (1, 3));
        assert!(parse_opts(&["--burst-reps", "0"]).is_err());
        assert_eq!(o.json, Some(PathBuf::from("/tmp/x.json")));
        assert_eq!(parse_opts(&["--reps", "7"]).unwrap().reps, 7);
        assert_eq!(parse_opts(&["--reps", "7", "--quick"]).unwrap().reps, 7);
        assert!(parse_opts(&["--markdown"]).unwrap().markdown);
        assert!(parse_opts(&["--reps", "0"]).is_err());
        assert!(parse_opts(&["--reps"]).is_err());
        assert!(parse_opts(&["--frobnicate"]).is_err());
        assert!(parse_opts(&["--ref-reps", "3"]).is_err(), "not an option of this bench");
    }
}
