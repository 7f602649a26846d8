//! The host-local IPAM plugin: addresses from configured ranges, reserved in
//! a directory store that the reference binary can share.

mod config;

use crate::allocator::allocate;
use crate::store::{Owner, Store};
use cni::{CniResult, Error, IpConfig, Plugin, Request};
use ipnetwork::IpNetwork;
use std::collections::HashSet;

pub use config::{Config, DEFAULT_DATA_DIR};

pub struct HostLocal;

impl Plugin for HostLocal {
    fn about(&self) -> &'static str {
        "railcni host-local IPAM: allocates addresses from ranges in a store shared with the reference host-local"
    }

    fn known_args(&self) -> &'static [&'static str] {
        &["IP"]
    }

    fn add(&self, req: &Request) -> Result<CniResult, Error> {
        let cfg = Config::load(req)?;
        let store = open(&cfg)?;
        let owner = Owner::new(&req.env.container_id, &req.env.ifname);
        let allocated = allocate(&store, &cfg.ranges, &cfg.requested, &owner);
        let finished = finish(&store);
        let ips = allocated?
            .into_iter()
            .map(|a| {
                let address = IpNetwork::new(a.ip, a.prefix).map_err(|e| Error::Internal { msg: e.to_string() })?;
                Ok(IpConfig { address, gateway: Some(a.gateway), interface: None })
            })
            .collect::<Result<_, Error>>()?;
        finished?;
        Ok(CniResult { ips, routes: cfg.routes, dns: cfg.dns, ..CniResult::default() })
    }

    fn del(&self, req: &Request) -> Result<(), Error> {
        let cfg = Config::load(req)?;
        let store = open(&cfg)?;
        let (key, held) = store.attachment(&req.env.container_id, &req.env.ifname)?;
        for ip in &held {
            store.release(*ip)?;
        }
        store.set_held(&key, &[])?;
        finish(&store)
    }

    fn check(&self, req: &Request) -> Result<(), Error> {
        let cfg = Config::load(req)?;
        let store = open(&cfg)?;
        if store.attachment(&req.env.container_id, &req.env.ifname)?.1.is_empty() {
            return Err(crate::Error::NotFound {
                container_id: req.env.container_id.clone(),
                ifname: req.env.ifname.clone(),
            }
            .into());
        }
        Ok(())
    }

    fn gc(&self, req: &Request) -> Result<(), Error> {
        let cfg = Config::load(req)?;
        let Some(valid) = valid_attachments(req)? else {
            tracing::warn!("GC without cni.dev/valid-attachments: nothing is released");
            return Ok(());
        };
        let store = Store::open(&cfg.data_dir, &cfg.network)?;
        let ids: HashSet<&str> = valid.iter().map(|o| o.container_id.as_str()).collect();
        let mut kept = Vec::new();
        for (ip, owner) in store.scan()? {
            let live = match &owner.ifname {
                Some(_) => valid.contains(&owner),
                None => ids.contains(owner.container_id.as_str()),
            };
            if live {
                kept.push((ip, owner));
            } else {
                tracing::info!(%ip, container = %owner.container_id, "GC releases a stale reservation");
                store.release(ip)?;
            }
        }
        store.rebuild_index(&kept)?;
        finish(&store)
    }

    fn status(&self, req: &Request) -> Result<(), Error> {
        let cfg = Config::load(req)?;
        let writable = Store::open(&cfg.data_dir, &cfg.network).and_then(|s| s.probe_writable());
        writable.map_err(|e| Error::NotAvailable {
            msg: format!("ipam.dataDir: the store is not writable: {}", Error::from(e)),
        })
    }
}

fn open(cfg: &Config) -> Result<Store, Error> {
    let store = Store::open(&cfg.data_dir, &cfg.network)?;
    store.refresh_index()?;
    Ok(store)
}

/// Durable, and stamped so that the next run trusts the index.
fn finish(store: &Store) -> Result<(), Error> {
    store.sync()?;
    store.seal()?;
    Ok(())
}

fn valid_attachments(req: &Request) -> Result<Option<HashSet<Owner>>, Error> {
    Ok(cni::gc::valid_attachments(req)?
        .map(|list| list.iter().map(|a| Owner::new(&a.container_id, &a.ifname)).collect()))
}
