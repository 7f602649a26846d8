//! The two verbs over whole directories: what goes where, and one log line
//! per file so `kubectl logs` shows what an upgrade changed.

use crate::args::Options;
use crate::cluster_ipam;
use crate::conflist;
use crate::place::{Placed, Removal, back_up, place, remove_if_same};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

const BIN_MODE: u32 = 0o755;
/// Where the plugins railcni replaced are kept, inside the bin dir (a hard
/// link needs the same filesystem); a runtime looks up plugins by exact
/// name, so it never runs anything from here.
pub const BACKUP_DIR: &str = ".railcni-backup";
const CONF_MODE: u32 = 0o644;

/// Installs cluster-ipam's node settings (read only by cluster-ipam, so
/// harmless before it is there), the plugins, then the conflists (a config
/// must never name a plugin that is not there yet). Every input is checked
/// before anything is written.
pub fn install(o: &Options) -> Result<(), String> {
    let plugins = plugins(&o.src)?;
    let confs = conflists(&o.conflists)?;
    if let Some(rendered) = render_cluster_ipam(o)? {
        cluster_ipam::install(&rendered, &o.conf_dir, true)?;
    }
    mkdir(&o.bin_dir)?;
    let backup = o.bin_dir.join(BACKUP_DIR);
    for (name, path) in &plugins {
        if is_foreign(&o.bin_dir.join(name)) && back_up(&o.bin_dir, name, &backup).map_err(|e| at(&backup, e))? {
            eprintln!("railcni-install: kept the previous {name} as {}", backup.join(name).display());
        }
        let placed = place(path, &o.bin_dir, name, BIN_MODE).map_err(|e| at(&o.bin_dir.join(name), e))?;
        log(placed, &o.bin_dir, name);
    }
    if !confs.is_empty() {
        mkdir(&o.conf_dir)?;
    }
    for (name, path) in &confs {
        let placed = place(path, &o.conf_dir, name, CONF_MODE).map_err(|e| at(&o.conf_dir.join(name), e))?;
        log(placed, &o.conf_dir, name);
    }
    Ok(())
}

/// Removes the conflists first, then the plugins (the reverse of install),
/// putting back each plugin railcni had replaced.
pub fn uninstall(o: &Options) -> Result<(), String> {
    let confs = o.conflists.iter().map(|p| file_name(p).map(|n| (n, p.clone()))).collect::<Result<Vec<_>, _>>()?;
    for (name, path) in &confs {
        remove(path, &o.conf_dir, name, None)?;
    }
    let backup = o.bin_dir.join(BACKUP_DIR);
    for (name, path) in plugins(&o.src)? {
        remove(&path, &o.bin_dir, &name, Some(&backup))?;
    }
    // Gone once empty; a backup whose plugin someone else has since replaced stays.
    let _ = fs::remove_dir(&backup);
    // The flag says the settings are ours; the Secret itself is not read.
    if o.cluster_ipam_secret.is_some() {
        cluster_ipam::uninstall(&o.conf_dir)?;
    }
    Ok(())
}

/// Renders the Secret again and writes what changed (a rotated certificate,
/// a new endpoint); logs only the files it wrote.
pub fn resync_cluster_ipam(o: &Options) -> Result<(), String> {
    match render_cluster_ipam(o)? {
        Some(rendered) => cluster_ipam::install(&rendered, &o.conf_dir, false).map(drop),
        None => Ok(()),
    }
}

fn render_cluster_ipam(o: &Options) -> Result<Option<cluster_ipam::Rendered>, String> {
    o.cluster_ipam_secret
        .as_deref()
        .map(|secret| cluster_ipam::render(secret, o.node_name.as_deref(), &o.host_conf_dir))
        .transpose()
}

fn remove(src: &Path, dir: &Path, name: &str, backup: Option<&Path>) -> Result<(), String> {
    let target = dir.join(name);
    let what = match remove_if_same(src, dir, name, backup).map_err(|e| at(&target, e))? {
        Removal::NotOurs => "left (absent or not ours)",
        Removal::Restored => "restored the previous",
        Removal::Deleted => "removed",
    };
    eprintln!("railcni-install: {what} {}", target.display());
    Ok(())
}

/// A plugin that is there and is not a railcni binary (another vendor's,
/// the distribution's, a symlink to one): railcni keeps it for uninstall.
/// An older railcni is not kept; it is simply upgraded.
fn is_foreign(path: &Path) -> bool {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => true,
        Ok(m) if m.is_file() => !cni::inproc::is_railcni(path),
        _ => false,
    }
}

/// Every regular, non-hidden file in `src`, by name. An empty source is an
/// error: it means a broken image, and installing nothing would hide that.
fn plugins(src: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let mut out = Vec::new();
    for entry in fs::read_dir(src).map_err(|e| at(src, e))? {
        let entry = entry.map_err(|e| at(src, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_file = entry.file_type().map_err(|e| at(&entry.path(), e))?.is_file();
        if is_file && !name.starts_with('.') {
            out.push((name, entry.path()));
        }
    }
    if out.is_empty() {
        return Err(format!("{}: no plugins to install", src.display()));
    }
    out.sort();
    Ok(out)
}

/// The conflists with their target names, each checked before anything is written.
fn conflists(paths: &[PathBuf]) -> Result<Vec<(String, PathBuf)>, String> {
    paths
        .iter()
        .map(|p| {
            let name = file_name(p)?;
            let bytes = fs::read(p).map_err(|e| at(p, e))?;
            conflist::check(&bytes).map_err(|e| format!("{}: {e}", p.display()))?;
            Ok((name, p.clone()))
        })
        .collect()
}

fn file_name(p: &Path) -> Result<String, String> {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).ok_or_else(|| format!("{}: not a file name", p.display()))
}

fn mkdir(dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| at(dir, e))
}

fn log(placed: Placed, dir: &Path, name: &str) {
    let what = match placed {
        Placed::Written => "installed",
        Placed::Unchanged => "unchanged",
    };
    eprintln!("railcni-install: {what} {}", dir.join(name).display());
}

fn at(path: &Path, e: io::Error) -> String {
    format!("{}: {e}", path.display())
}
