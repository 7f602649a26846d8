//! `conformance`: check a CNI plugin binary against the CNI spec 1.1.0 and
//! its conventions, black-box, in network namespaces it creates (needs root).
//!
//!     conformance --plugins DIR --type TYPE [--type TYPE]... [--format table|json|junit]
//!                 [--only SUBSTRING] [--out FILE] [--versus DIR]
//!
//! `--versus DIR` runs the same checks against the plugins in DIR too and
//! prints both side by side as markdown (A = `--plugins`, B = `--versus`).
//! TYPE is a profile: bridge, macvlan, ipvlan, vlan, sriov, sbr, ptp,
//! host-local, static, loopback, cluster-ipam. DIR holds the plugin and the
//! IPAM plugin its profile uses (host-local or static; loopback uses none).
//! cluster-ipam needs an etcd cluster (`RAILCNI_ETCD_ENDPOINTS`,
//! comma-separated client URLs; without it every check skips). sriov runs in this namespace on its free VFs
//! (`CONFORMANCE_SRIOV_PF` picks a PF); sbr runs chained after DIR's macvlan
//! (else /usr/lib/cni's). Exit status: 0 if no check failed, 1 if one did,
//! 2 on bad usage.

use conformance::{self as suite, Format, Profile, Target};
use std::path::PathBuf;
use std::process::ExitCode;

fn usage(msg: &str) -> ExitCode {
    eprintln!("conformance: {msg}");
    eprintln!(
        "usage: conformance --plugins DIR --type TYPE [--type TYPE]... [--format table|json|junit] [--only SUBSTRING] [--out FILE] [--versus DIR]"
    );
    let names: Vec<&str> = suite::PROFILES.iter().map(|p| p.name).collect();
    eprintln!("types: {}", names.join(", "));
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut dir = None;
    let mut types = Vec::new();
    let mut format = Format::Table;
    let mut only = None;
    let mut out = None;
    let mut versus = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let parsed = match a.as_str() {
            "--plugins" => value("--plugins").map(|v| dir = Some(PathBuf::from(v))),
            "--type" => value("--type").map(|v| types.push(v)),
            "--only" => value("--only").map(|v| only = Some(v)),
            "--out" => value("--out").map(|v| out = Some(PathBuf::from(v))),
            "--versus" => value("--versus").map(|v| versus = Some(PathBuf::from(v))),
            "--format" => value("--format")
                .and_then(|v| Format::parse(&v).map(|f| format = f).ok_or_else(|| format!("unknown format {v:?}"))),
            "-h" | "--help" => return usage("checks a CNI plugin against the spec"),
            other => Err(format!("unknown argument {other:?}")),
        };
        if let Err(e) = parsed {
            return usage(&e);
        }
    }
    let Some(dir) = dir else { return usage("--plugins is required") };
    if types.is_empty() {
        return usage("at least one --type is required");
    }
    if !nix::unistd::geteuid().is_root() {
        return usage("needs root: every check runs in network namespaces it creates");
    }
    let reports = match run_all(&dir, &types, only.as_deref()) {
        Ok(r) => r,
        Err(e) => return usage(&e),
    };
    let text = match &versus {
        Some(other) => match run_all(other, &types, only.as_deref()) {
            Ok(theirs) => suite::render_versus(&reports, &theirs),
            Err(e) => return usage(&e),
        },
        None => suite::render(&reports, format),
    };
    match out {
        Some(path) => {
            if let Err(e) = std::fs::write(&path, &text) {
                eprintln!("conformance: writing {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
        None => print!("{text}"),
    }
    let failed: usize = reports.iter().map(|r| r.count(suite::Verdict::Fail)).sum();
    if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

fn run_all(dir: &std::path::Path, types: &[String], only: Option<&str>) -> Result<Vec<suite::Report>, String> {
    let mut reports = Vec::new();
    for ty in types {
        let profile = Profile::find(ty).ok_or_else(|| format!("unknown type {ty:?}"))?;
        reports.push(suite::run(&Target::new(dir, profile)?, only));
    }
    Ok(reports)
}
