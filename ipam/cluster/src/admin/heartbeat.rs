//! `heartbeat`: the node's liveness in etcd. It writes
//! `heartbeat/<node>` once (this node can be found dead) and keeps
//! `alive/<node>` under a lease of `node_grace_seconds`, renewed every
//! third of it. When the process stops renewing, etcd drops the key at the
//! lease's end and other nodes may take back this node's empty slices.

use crate::etcd::Etcd;
use crate::keys;
use crate::settings::NodeSettings;
use crate::store::{Store, StoreError};
use std::time::Duration;

/// Between attempts when etcd does not answer.
const RETRY: Duration = Duration::from_secs(1);

/// Runs until a permanent refusal (credentials, permissions): then the error.
pub fn run(settings: &NodeSettings) -> StoreError {
    let ttl = settings.node_grace.as_secs() as i64;
    let every = (settings.node_grace / 3).max(Duration::from_millis(200));
    let mut etcd = match Etcd::new(settings.etcd.clone(), settings.timeout) {
        Ok(e) => e,
        Err(e) => return e,
    };
    let marker = serde_json::json!({"grace_seconds": ttl}).to_string().into_bytes();
    let alive = serde_json::json!({"node": settings.node}).to_string().into_bytes();
    loop {
        etcd.renew(settings.timeout);
        let lease = (|| {
            put_plain(&mut etcd, &keys::heartbeat(&settings.node), &marker)?;
            let lease = etcd.lease_grant(ttl)?;
            etcd.put_leased(&keys::alive(&settings.node), &alive, lease)?;
            Ok(lease)
        })();
        let lease = match lease {
            Ok(l) => l,
            Err(StoreError::Permanent(m)) => return StoreError::Permanent(m),
            Err(StoreError::Transient(m)) => {
                tracing::warn!(node = %settings.node, "heartbeat: etcd: {m}; retrying");
                std::thread::sleep(RETRY);
                continue;
            }
        };
        tracing::info!(node = %settings.node, lease, ttl, "heartbeat: alive");
        loop {
            std::thread::sleep(every);
            etcd.renew(settings.timeout.min(every));
            match etcd.lease_keep_alive(lease) {
                Ok(left) if left > 0 => tracing::debug!(lease, left, "heartbeat: renewed"),
                Ok(_) => {
                    tracing::warn!(node = %settings.node, lease, "heartbeat: the lease expired; taking a new one");
                    break;
                }
                Err(StoreError::Permanent(m)) => return StoreError::Permanent(m),
                Err(StoreError::Transient(m)) => tracing::warn!(node = %settings.node, "heartbeat: etcd: {m}"),
            }
        }
    }
}

fn put_plain(etcd: &mut Etcd, key: &str, value: &[u8]) -> Result<(), StoreError> {
    use crate::store::{Op, Txn};
    etcd.txn(Txn { when: vec![], then: vec![Op::Put(key.into(), value.to_vec())], read_on_failure: vec![] }).map(|_| ())
}
