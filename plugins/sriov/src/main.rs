//! railcni `sriov`: a drop-in for sriov-cni. The pod gets an SR-IOV VF: its
//! attributes are set on the PF and its netdev moves into the pod (or, in
//! DPDK mode, stays with its userspace driver). DEL puts everything back.

mod add;
mod check;
mod config;
mod restore;
mod state;

use cni::delegate::forward;
use cni::gc::{Attachment, valid_attachments};
use cni::{CniResult, Command, Error, Plugin, Request};
use netlink::Netns;
use netlink::sriov_sysfs::{Sysfs, Vf};
use state::{Record, Store};
use std::path::Path;

struct Sriov;

impl Plugin for Sriov {
    fn about(&self) -> &'static str {
        "railcni sriov: gives the pod an SR-IOV VF"
    }

    fn known_args(&self) -> &'static [&'static str] {
        attach::MAC_AND_IPAM_ARGS
    }

    fn add(&self, req: &Request) -> Result<CniResult, Error> {
        let s = config::load(req)?;
        let vf = find_vf(&s.pci)?;
        let store = Store::new(&s.data_dir);
        let _lock = store.lock(&vf.pci)?;
        ensure_unused(&store, &vf)?;
        // Resolved again under the lock: a stale record's restore may have moved the netdev.
        let vf = find_vf(&s.pci)?;
        if !vf.is_dpdk() && vf.netdev.is_none() {
            return Err(Error::config(
                "deviceID",
                format!(
                    "VF {} has no netdev in this namespace (driver {:?}): is it in use elsewhere?",
                    vf.pci, vf.driver
                ),
            ));
        }
        attach::with_pod(&req.env.netns, async |ns| add::add(req, &s, &vf, &store, ns).await)
    }

    /// DEL needs only the record: no deviceID, no netns, no VF settings.
    fn del(&self, req: &Request) -> Result<(), Error> {
        let store = Store::new(&config::data_dir(req)?);
        forward(req, Command::Del)?;
        // The rail's rules live in the pod and would outlive the VF's return.
        attach::block_on(attach::remove_pod_rules(req))?;
        store.discard_partial(req)?;
        let Some(rec) = store.find(req)? else {
            return Ok(());
        };
        release(&store, &rec.pci, |r| r.is_for(req))
    }

    fn check(&self, req: &Request) -> Result<(), Error> {
        let s = config::load(req)?;
        let prev = req.require_prev_result()?;
        let store = Store::new(&s.data_dir);
        let rec = store.find(req)?.ok_or_else(|| {
            cni::Error::from(attach::check_failed(format!(
                "no record of attachment {}/{}",
                req.env.container_id, req.env.ifname
            )))
        })?;
        attach::with_pod(&req.env.netns, async |ns| check::check(req, &s, &rec, &prev, ns).await)
    }

    /// Restore and free every VF of this network whose attachment the runtime no longer lists.
    fn gc(&self, req: &Request) -> Result<(), Error> {
        if let Some(valid) = valid_attachments(req)? {
            let store = Store::new(&config::data_dir(req)?);
            let stale = |r: &Record| {
                r.network == req.conf.name
                    && !valid.contains(&Attachment { container_id: r.container_id.clone(), ifname: r.ifname.clone() })
            };
            for rec in store.all()?.into_iter().filter(stale) {
                release(&store, &rec.pci, stale)?;
            }
        }
        forward(req, Command::Gc)
    }
}

fn find_vf(pci: &str) -> Result<Vf, Error> {
    Sysfs::default().vf(pci).map_err(|e| Error::config("deviceID", e.to_string()))
}

/// Refuse a VF another live attachment holds; restore one whose holder's
/// netns is gone (its DEL never came, or failed).
fn ensure_unused(store: &Store, vf: &Vf) -> Result<(), Error> {
    let Some(rec) = store.load(&vf.pci)? else {
        return Ok(());
    };
    if Netns::open(Path::new(&rec.netns)).is_ok() {
        return Err(Error::config(
            "deviceID",
            format!(
                "VF {} is in use by attachment {}/{} of network {} (netns {})",
                vf.pci, rec.container_id, rec.ifname, rec.network, rec.netns
            ),
        ));
    }
    tracing::info!("VF {}: restoring it from stale attachment {}/{}", vf.pci, rec.container_id, rec.ifname);
    attach::block_on(restore::restore(&rec))?;
    store.remove(&vf.pci)
}

/// Under the VF's lock, restore the VF of record `pci` (if the record still
/// matches `mine`) and remove the record.
fn release(store: &Store, pci: &str, mine: impl Fn(&Record) -> bool) -> Result<(), Error> {
    let _lock = store.lock(pci)?;
    let Some(rec) = store.load(pci)?.filter(|r| mine(r)) else {
        return Ok(());
    };
    attach::block_on(restore::restore(&rec))?;
    store.remove(pci)
}

fn main() -> std::process::ExitCode {
    attach::run(&Sriov, &ipam::IN_PROCESS)
}
