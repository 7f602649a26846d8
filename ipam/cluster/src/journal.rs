//! DEL's durable journal: when etcd cannot be reached, the release of an
//! attachment is appended here (fsync'd) and DEL succeeds. Every later run
//! on the node replays the journal before anything else, under a lock, and
//! removes it only once every entry is released. A release is idempotent
//! (it deletes records only if they are still the attachment's own, by
//! create revision), so a replay cut short and run again frees nothing twice.

use crate::error::Error;
use crate::node_state::NodeState;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    pub network: String,
    pub container_id: String,
    pub ifname: String,
}

const FILE: &str = "journal";

fn path(state: &NodeState) -> PathBuf {
    state.dir().join(FILE)
}

pub fn append(state: &NodeState, release: &Release) -> Result<(), Error> {
    let _lock = state.lock(FILE)?;
    let path = path(state);
    let io = |e| Error::io(path.display().to_string(), e);
    // A leading newline ends any line a crash tore, so this entry parses whole.
    let mut line = vec![b'\n'];
    line.extend(serde_json::to_vec(release).map_err(|e| io(std::io::Error::other(e)))?);
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(io)?;
    file.write_all(&line).and_then(|()| file.sync_all()).map_err(io)?;
    cni::fault::step("cluster-ipam: journal append");
    std::fs::File::open(state.dir()).and_then(|d| d.sync_all()).map_err(io)
}

/// Whether there is anything to replay: one stat on the hot path.
pub fn pending(state: &NodeState) -> bool {
    path(state).exists()
}

/// Release every journaled attachment with `release`, then drop the journal.
/// Stops at the first failure and keeps the journal for the next run.
pub fn replay(state: &NodeState, mut release: impl FnMut(&Release) -> Result<(), Error>) -> Result<usize, Error> {
    let _lock = state.lock(FILE)?;
    let path = path(state);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(path.display().to_string(), e)),
    };
    let mut done = 0;
    // A line torn by a crash mid-append was never acknowledged: its DEL failed and will be retried.
    for entry in text.lines().filter(|l| !l.is_empty()).filter_map(|l| serde_json::from_str::<Release>(l).ok()) {
        release(&entry)?;
        done += 1;
    }
    cni::statefile::remove(&path).map_err(|e| Error::io(path.display().to_string(), e))?;
    Ok(done)
}
