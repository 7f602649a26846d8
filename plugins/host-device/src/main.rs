//! railcni `host-device`: a drop-in for the reference host-device plugin.
//! A device of the host (a NIC, a PF, a VF, an auxiliary device's netdev)
//! moves into the pod as `CNI_IFNAME`; DEL puts back its name, MTU and
//! admin state. Unlike the reference, DEL works after the device was
//! renamed in the pod, with the netns gone, and with the original name
//! taken on the host (plugins#773): a record in `dataDir` says what to undo.

mod add;
mod config;
mod device;
mod record;
mod restore;

use attach::{Expect, PodPlugin, Result, check_failed};
use cni::delegate::forward;
use cni::statefile::AttachmentFile;
use cni::{CniResult, Command, Request};
use netlink::Sockets;
use record::Record;

struct HostDevice;

impl PodPlugin for HostDevice {
    type Settings = config::Settings;
    const ABOUT: &'static str = "railcni host-device: moves a host device into the pod";

    fn load(&self, req: &Request) -> Result<Self::Settings, cni::Error> {
        config::load(req)
    }

    async fn add(&self, req: &Request, s: &Self::Settings, ns: &Sockets) -> Result<CniResult> {
        add::add(req, s, ns).await
    }

    async fn check(&self, req: &Request, s: &Self::Settings, ns: &Sockets, prev: &CniResult) -> Result<()> {
        let Some(rec) = AttachmentFile::of(&s.data_dir, req).read::<Record>()? else {
            // DPDK: nothing moved, nothing recorded; IPAM's is the only state.
            if let device::Found::Dpdk { .. } = device::find(&s.selector, s.field, &ns.host).await? {
                return Ok(forward(req, Command::Check)?);
            }
            return Err(check_failed(format!("no record of attachment {}/{}", req.env.container_id, req.env.ifname)));
        };
        let link = attach::check_pod_link(req, ns, prev, Expect { kind: &rec.kind, up: true }).await?.link;
        if link.alias != rec.name {
            return Err(check_failed(format!("{} in the pod is not host device {}", link.name, rec.name)));
        }
        Ok(())
    }

    /// DEL needs only the record (or, for an attachment the reference made,
    /// the alias it left): no device key, no netns.
    fn del(&self, req: &Request) -> Result<(), cni::Error> {
        let store = AttachmentFile::of(&cni::config::data_dir(req, config::DEFAULT_DATA_DIR)?, req);
        forward(req, Command::Del)?;
        attach::block_on(async {
            // The rail's rules live in the pod and would outlive the device's return.
            let pod = attach::remove_pod_rules(req).await?;
            let rec = match store.read::<Record>()? {
                Some(rec) => rec,
                None => match pod.and_then(|(_, link)| link).filter(|l| !l.alias.is_empty()) {
                    Some(link) => reference_record(req, &link),
                    None => return Ok(store.remove()?),
                },
            };
            restore::put_back(&rec).await?;
            Ok(store.remove()?)
        })
    }
}

/// The reference marks a moved device with its host name as the alias and
/// keeps nothing else: its attachments come back under that name.
fn reference_record(req: &Request, link: &netlink::Link) -> Record {
    Record {
        ifname: req.env.ifname.clone(),
        netns: req.env.netns.clone(),
        name: link.alias.clone(),
        mac: link.mac.clone(),
        mtu: link.mtu,
        up: false,
        kind: link.kind.name().to_string(),
        pci: None,
    }
}

fn main() -> std::process::ExitCode {
    attach::run(&attach::Pod(HostDevice), &ipam::IN_PROCESS)
}
