//! railcni cluster-ipam: cluster-wide IPAM on etcd v3 with node-affine
//! slices, taking whereabouts' config keys. See the README's
//! "cluster-ipam" section for the keys, the settings file, the modes and
//! the failure behaviour.

pub mod admin;
pub mod alloc;
pub mod config;
mod error;
pub mod etcd;
pub mod journal;
pub mod keys;
pub mod node_state;
pub mod pool;
pub mod settings;
pub mod store;

pub use error::Error;

use alloc::{Allocator, Attachment};
use cni::{CniResult, IpConfig, Plugin, Request, Route};
use config::Config;
use etcd::Etcd;
use ipnetwork::IpNetwork;
use journal::Release;
use node_state::NodeState;
use pool::SliceMode;
use std::collections::HashSet;
use store::Store;

pub struct ClusterIpam;

impl Plugin for ClusterIpam {
    fn about(&self) -> &'static str {
        "railcni cluster-ipam: cluster-wide IPAM on etcd with node-affine slices (whereabouts' keys)"
    }

    fn known_args(&self) -> &'static [&'static str] {
        &["K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID"]
    }

    fn add(&self, req: &Request) -> Result<CniResult, cni::Error> {
        let cfg = config::load(req)?;
        let mut run = Run::open(&cfg)?;
        run.replay()?;
        let att = Attachment {
            container_id: req.env.container_id.clone(),
            ifname: req.env.ifname.clone(),
            pod_namespace: req.args.get("K8S_POD_NAMESPACE").unwrap_or_default().to_string(),
            pod_name: req.args.get("K8S_POD_NAME").unwrap_or_default().to_string(),
        };
        let mut alloc = run.allocator();
        match alloc.allocate(&att) {
            Ok(ips) => Ok(result(&cfg, &ips)),
            Err(e) => {
                if alloc.wrote {
                    // A write may have landed before the failure: undo it now, or journal the undo.
                    run.release_or_journal(&att.container_id, &att.ifname);
                }
                Err(e.into())
            }
        }
    }

    /// Idempotent; with etcd unreachable the release goes to the journal and DEL succeeds.
    fn del(&self, req: &Request) -> Result<(), cni::Error> {
        let cfg = config::load(req)?;
        let mut run = Run::open(&cfg)?;
        if let Err(e) = run.replay() {
            tracing::warn!("journal replay failed: {e:?}");
        }
        let (cid, ifname) = (&req.env.container_id, &req.env.ifname);
        match run.allocator().release(cid, ifname) {
            Ok(_) => Ok(()),
            Err(Error::Unavailable { msg }) => {
                tracing::warn!(network = %cfg.network.id, "etcd unreachable ({msg}); journaling the release");
                run.journal(cid, ifname).map_err(Into::into)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn check(&self, req: &Request) -> Result<(), cni::Error> {
        let cfg = config::load(req)?;
        let mut run = Run::open(&cfg)?;
        run.replay()?;
        run.allocator().check(&req.env.container_id, &req.env.ifname)?;
        Ok(())
    }

    fn gc(&self, req: &Request) -> Result<(), cni::Error> {
        let cfg = config::load(req)?;
        let Some(valid) = cni::gc::valid_attachments(req)? else {
            return Ok(()); // no list is not an empty list: collect nothing
        };
        let valid: HashSet<(String, String)> = valid.into_iter().map(|a| (a.container_id, a.ifname)).collect();
        let mut run = Run::open(&cfg)?;
        run.replay()?;
        let n = run.allocator().collect(&valid)?;
        tracing::info!(network = %cfg.network.id, released = n, "gc");
        Ok(())
    }

    /// Code 50 when etcd cannot serve an ADD now.
    fn status(&self, req: &Request) -> Result<(), cni::Error> {
        let cfg = config::load(req)?;
        let mut run = Run::open(&cfg)?;
        let reachable = run.store.ping().map(|()| run.replay());
        match reachable {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(cni::Error::NotAvailable { msg: format!("journal replay: {}", cni::Error::from(e)) }),
            Err(e) => {
                Err(cni::Error::NotAvailable { msg: format!("etcd unreachable: {}", cni::Error::from(Error::from(e))) })
            }
        }
    }
}

/// One verb's store connection and node state.
struct Run<'a> {
    cfg: &'a Config,
    store: Etcd,
    state: NodeState,
}

impl<'a> Run<'a> {
    fn open(cfg: &'a Config) -> Result<Run<'a>, Error> {
        let store = Etcd::new(cfg.etcd.clone(), cfg.timeout)?;
        Ok(Run { cfg, store, state: NodeState::new(&cfg.state_dir) })
    }

    fn allocator(&mut self) -> Allocator<'_, Etcd> {
        Allocator { store: &mut self.store, cfg: self.cfg, state: &self.state, wrote: false }
    }

    /// Release what the journal holds for this network first, so that no
    /// operation on this node runs ahead of an earlier DEL. Entries of other
    /// networks wait for a run of theirs.
    fn replay(&mut self) -> Result<usize, Error> {
        if !journal::pending(&self.state) {
            return Ok(0);
        }
        let mut later = Vec::new();
        let mut alloc = Allocator { store: &mut self.store, cfg: self.cfg, state: &self.state, wrote: false };
        let done = journal::replay(&self.state, |r| {
            if r.network == self.cfg.network.id {
                alloc.release(&r.container_id, &r.ifname).map(|_| ())
            } else {
                later.push(r.clone());
                Ok(())
            }
        })?;
        for r in &later {
            journal::append(&self.state, r)?;
        }
        Ok(done - later.len())
    }

    fn journal(&self, cid: &str, ifname: &str) -> Result<(), Error> {
        let r = Release { network: self.cfg.network.id.clone(), container_id: cid.into(), ifname: ifname.into() };
        journal::append(&self.state, &r)
    }

    /// After a failed ADD: release now if etcd answers, else journal it.
    fn release_or_journal(&mut self, cid: &str, ifname: &str) {
        let released = self.allocator().release(cid, ifname);
        if let Err(e) = released {
            tracing::warn!("undoing the failed ADD: {e:?}; journaling the release");
            if let Err(e) = self.journal(cid, ifname) {
                tracing::error!("journaling the release failed: {e:?}");
            }
        }
    }
}

/// The ADD result: one address per range; in routed mode a route to the
/// whole range through the slice's gateway, so pods reach other nodes.
fn result(cfg: &Config, ips: &[std::net::IpAddr]) -> CniResult {
    let mut routes = cfg.routes.clone();
    let mut out = Vec::new();
    for (pool, ip) in cfg.network.pools.iter().zip(ips) {
        let (address, gateway) = pool.address(*ip, cfg.network.mode);
        if let (SliceMode::Routed { .. }, Some(gw)) = (cfg.network.mode, gateway) {
            let whole = IpNetwork::new(pool.cidr.network(), pool.cidr.prefix()).unwrap_or(pool.cidr);
            if !routes.iter().any(|r| r.dst == whole) {
                routes.push(Route::new(whole, Some(gw)));
            }
        }
        out.push(IpConfig { address, gateway, interface: None });
    }
    CniResult { ips: out, routes, dns: cfg.dns.clone(), ..CniResult::default() }
}
