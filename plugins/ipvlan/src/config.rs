//! ipvlan's configuration: the reference keys plus the port `flag` and
//! railcni's `stateDir`, validated once.

use cni::{Error, Request};
use netlink::{IpvlanFlag, IpvlanMode};
use serde::Deserialize;
use std::path::PathBuf;

/// Where ADD records which pods use which master, for the mode-conflict check.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/cni/railcni/ipvlan";

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Config {
    master: String,
    mode: String,
    flag: String,
    mtu: i64,
    #[serde(rename = "linkInContainer")]
    link_in_container: bool,
    #[serde(rename = "stateDir")]
    state_dir: String,
}

#[derive(Debug)]
pub struct Settings {
    /// Empty: the default-route interface, or the chained prevResult's interface.
    pub master: String,
    pub mode: IpvlanMode,
    pub flag: IpvlanFlag,
    pub mtu: Option<u32>,
    pub link_in_container: bool,
    pub state_dir: PathBuf,
}

pub fn load(req: &Request) -> Result<Settings, Error> {
    let c: Config = req.decode()?;
    req.policy()?; // Validated here; the shared steps apply it.
    let mode_name = if c.mode.is_empty() { "l2" } else { c.mode.as_str() };
    let mode = IpvlanMode::parse(mode_name)
        .ok_or_else(|| Error::config("mode", format!("{mode_name:?} must be l2, l3 or l3s")))?;
    let flag_name = if c.flag.is_empty() { "bridge" } else { c.flag.as_str() };
    let flag = IpvlanFlag::parse(flag_name)
        .ok_or_else(|| Error::config("flag", format!("{flag_name:?} must be bridge, private or vepa")))?;
    if !c.master.is_empty() {
        cni::env::validate_ifname(&c.master).map_err(|m| Error::config("master", m))?;
    }
    let state_dir = valid_state_dir(&c.state_dir)?;
    Ok(Settings {
        master: c.master,
        mode,
        flag,
        mtu: cni::config::link_mtu(c.mtu)?,
        link_in_container: c.link_in_container,
        state_dir,
    })
}

/// `stateDir` alone, for DEL, which needs nothing else of the config.
pub fn state_dir(req: &Request) -> Result<PathBuf, Error> {
    #[derive(Default, Deserialize)]
    #[serde(default)]
    struct StateDir {
        #[serde(rename = "stateDir")]
        state_dir: String,
    }
    valid_state_dir(&req.decode::<StateDir>()?.state_dir)
}

fn valid_state_dir(dir: &str) -> Result<PathBuf, Error> {
    let dir = if dir.is_empty() { DEFAULT_STATE_DIR } else { dir };
    if !dir.starts_with('/') {
        return Err(Error::config("stateDir", format!("{dir:?} must be an absolute path")));
    }
    Ok(PathBuf::from(dir))
}
