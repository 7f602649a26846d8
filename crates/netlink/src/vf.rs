//! SR-IOV VF settings, read and written on the PF (`IFLA_VFINFO_LIST`).
//!
//! Each attribute goes in its own message: the kernel stops at the first one
//! a driver refuses, and a separate message lets the error name it.

use crate::error::EINVAL;
use crate::{Error, Link, Netlink, format_mac};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{
    LinkAttribute, LinkExtentMask, LinkMessage, LinkVfInfo, Prop, VfInfo, VfInfoLinkState, VfInfoMac, VfInfoRate,
    VfInfoSpoofCheck, VfInfoTrust, VfInfoVlan, VfLinkState, VfVlan, VfVlanInfo, VlanProtocol,
};
use rtnetlink::LinkUnspec;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A VF's settings as its PF reports them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VfState {
    /// The administrative MAC (all zeros: none set).
    pub mac: String,
    pub vlan: u32,
    pub qos: u32,
    /// `802.1q` or `802.1ad`.
    pub proto: String,
    pub spoofchk: bool,
    pub trust: bool,
    /// `auto`, `enable` or `disable`.
    pub link_state: String,
    pub min_tx_rate: u32,
    pub max_tx_rate: u32,
}

/// One VF attribute to set.
#[derive(Debug, Clone, PartialEq)]
pub enum VfAttr {
    Mac(Vec<u8>),
    Vlan { id: u32, qos: u32, ad: bool },
    SpoofChk(bool),
    Trust(bool),
    LinkState(String),
    Rate { min: u32, max: u32 },
}

impl VfAttr {
    /// The sriov-cni config key(s) of the attribute, for error messages.
    pub fn key(&self) -> &'static str {
        match self {
            VfAttr::Mac(_) => "mac",
            VfAttr::Vlan { .. } => "vlan/vlanQoS/vlanProto",
            VfAttr::SpoofChk(_) => "spoofchk",
            VfAttr::Trust(_) => "trust",
            VfAttr::LinkState(_) => "link_state",
            VfAttr::Rate { .. } => "min_tx_rate/max_tx_rate",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            VfAttr::Mac(m) => format!("mac {}", format_mac(m)),
            VfAttr::Vlan { id, qos, ad } => {
                format!("vlan {id} qos {qos} proto {}", if *ad { "802.1ad" } else { "802.1q" })
            }
            VfAttr::SpoofChk(on) => format!("spoofchk {}", on_off(*on)),
            VfAttr::Trust(on) => format!("trust {}", on_off(*on)),
            VfAttr::LinkState(s) => format!("link_state {s}"),
            VfAttr::Rate { min, max } => format!("min_tx_rate {min} max_tx_rate {max}"),
        }
    }

    fn info(&self, vf: u32) -> VfInfo {
        match self {
            VfAttr::Mac(m) => VfInfo::Mac(VfInfoMac::new(vf, m)),
            // IFLA_VF_VLAN for 802.1Q: every driver with VLAN support takes it.
            VfAttr::Vlan { id, qos, ad: false } => VfInfo::Vlan(VfInfoVlan::new(vf, *id, *qos)),
            VfAttr::Vlan { id, qos, ad: true } => {
                VfInfo::VlanList(vec![VfVlan::Info(VfVlanInfo::new(vf, *id, *qos, VlanProtocol::Ieee8021Ad))])
            }
            VfAttr::SpoofChk(on) => VfInfo::SpoofCheck(VfInfoSpoofCheck::new(vf, *on)),
            VfAttr::Trust(on) => VfInfo::Trust(VfInfoTrust::new(vf, *on)),
            VfAttr::LinkState(s) => VfInfo::LinkState(VfInfoLinkState::new(vf, parse_link_state(s))),
            VfAttr::Rate { min, max } => VfInfo::Rate(VfInfoRate::new(vf, *min, *max)),
        }
    }
}

pub fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

fn parse_link_state(s: &str) -> VfLinkState {
    match s {
        "enable" => VfLinkState::Enable,
        "disable" => VfLinkState::Disable,
        _ => VfLinkState::Auto,
    }
}

fn link_state_name(s: VfLinkState) -> String {
    match s {
        VfLinkState::Enable => "enable".into(),
        VfLinkState::Disable => "disable".into(),
        VfLinkState::Auto => "auto".into(),
        other => format!("{other:?}"),
    }
}

impl Netlink {
    /// VF `vf`'s settings as PF `pf` (an ifindex) reports them.
    pub async fn vf_state(&self, pf: u32, vf: u32) -> Result<VfState, Error> {
        let mut msg = LinkUnspec::new_with_index(pf).build();
        msg.attributes.push(LinkAttribute::ExtMask(vec![LinkExtentMask::Vf]));
        let op = format!("reading the VF settings of #{pf}");
        let (replies, _) = self.request(RouteNetlinkMessage::GetLink(msg), 0, &op).await?;
        for reply in replies {
            let RouteNetlinkMessage::NewLink(link) = reply else { continue };
            for attr in link.attributes {
                let LinkAttribute::VfInfoList(list) = attr else { continue };
                if let Some(state) = list.into_iter().find_map(|LinkVfInfo(infos)| read_vf(vf, infos)) {
                    return Ok(state);
                }
            }
        }
        Err(Error::NotFound { what: format!("VF {vf} in the VF list of PF #{pf}") })
    }

    /// Set one attribute of VF `vf` on PF `pf`. A refusal keeps its errno and
    /// names the attribute, the VF and the PF.
    pub async fn set_vf(&self, pf: u32, vf: u32, attr: &VfAttr) -> Result<(), Error> {
        let list = LinkAttribute::VfInfoList(vec![LinkVfInfo(vec![attr.info(vf)])]);
        let msg = LinkUnspec::new_with_index(pf).append_extra_attribute(list).build();
        self.set_link(msg, &format!("setting {} on VF {vf} of PF #{pf}", attr.describe())).await
    }
}

/// The state of `vf` from one `IFLA_VF_INFO`, if that is the VF's.
fn read_vf(vf: u32, infos: Vec<VfInfo>) -> Option<VfState> {
    let mut s = VfState { proto: "802.1q".into(), link_state: "auto".into(), ..VfState::default() };
    let mut mine = false;
    for info in infos {
        match info {
            VfInfo::Mac(m) => {
                mine = m.vf_id == vf;
                s.mac = format_mac(&m.mac[..6]);
            }
            VfInfo::Vlan(v) => (s.vlan, s.qos) = (v.vlan_id, v.qos),
            VfInfo::VlanList(list) => {
                for v in list {
                    if let VfVlan::Info(i) = v {
                        (s.vlan, s.qos) = (i.vlan_id, i.qos);
                        s.proto = if i.protocol == VlanProtocol::Ieee8021Ad { "802.1ad" } else { "802.1q" }.into();
                    }
                }
            }
            VfInfo::SpoofCheck(c) => s.spoofchk = c.enabled,
            VfInfo::Trust(t) => s.trust = t.enabled,
            VfInfo::LinkState(l) => s.link_state = link_state_name(l.state),
            VfInfo::Rate(r) => (s.min_tx_rate, s.max_tx_rate) = (r.min_tx_rate, r.max_tx_rate),
            _ => {}
        }
    }
    mine.then_some(s)
}

/// How long a VF netdev gets to take its admin MAC after a reset.
const MAC_SYNC_TIMEOUT: Duration = Duration::from_secs(3);

impl Netlink {
    /// The link whose parent device is PCI `pci` (`IFLA_PARENT_DEV_NAME`) in
    /// this socket's namespace: a VF found by address, whatever its name.
    pub async fn link_by_pci(&self, pci: &str) -> Result<Option<Link>, Error> {
        let replies = self.dump(RouteNetlinkMessage::GetLink(LinkMessage::default()), "listing links").await?;
        Ok(replies.into_iter().find_map(|m| match m {
            RouteNetlinkMessage::NewLink(l)
                if l.attributes.iter().any(|a| matches!(a, LinkAttribute::ParentDevName(p) if p == pci)) =>
            {
                Some(Link::from_message(l))
            }
            _ => None,
        }))
    }

    /// [`Netlink::link_by_pci`], polled until the link shows up or `timeout` passes.
    pub async fn wait_link_by_pci(&self, pci: &str, timeout: Duration) -> Result<Option<Link>, Error> {
        poll(timeout, async || self.link_by_pci(pci).await).await
    }

    /// The first link that `pred` accepts, polled until one shows up or
    /// `timeout` passes (a device the kernel returns from a dead netns).
    pub async fn wait_link(&self, timeout: Duration, pred: impl Fn(&Link) -> bool) -> Result<Option<Link>, Error> {
        poll(timeout, async || Ok(self.links().await?.into_iter().find(&pred))).await
    }

    /// Remove the alternative name `name` of link `index`, if it has it. A
    /// rename can leave the old name as an altname (udev, newer kernels),
    /// and a stale altname makes the next rename to it fail (sriov-cni#445).
    pub async fn remove_altname(&self, index: u32, name: &str) -> Result<(), Error> {
        let mut msg = LinkUnspec::new_with_index(index).build();
        msg.attributes.push(LinkAttribute::PropList(vec![Prop::AltIfName(name.to_string())]));
        let op = format!("removing altname {name} of #{index}");
        match self.ack(RouteNetlinkMessage::DelLinkProp(msg), 0, &op).await {
            Err(e) if e.is_not_found() || e.errno() == Some(EINVAL) => Ok(()),
            other => other,
        }
    }

    /// Announce link `index`'s addresses again: writing its MAC unchanged
    /// raises NETDEV_CHANGEADDR without reaching the driver, on which the
    /// kernel sends a gratuitous ARP (`arp_notify`) and an unsolicited NA
    /// (`ndisc_notify`). A VF gets carrier only after link-up, and what the
    /// kernel sent at link-up without carrier was dropped.
    pub async fn announce(&self, index: u32) -> Result<(), Error> {
        let link =
            self.link_by_index(index).await?.ok_or_else(|| Error::NotFound { what: format!("link #{index}") })?;
        match crate::parse_mac(&link.mac) {
            Some(mac) => self.set_mac(index, mac).await,
            None => Ok(()),
        }
    }

    /// Make VF netdev `index` carry `mac`, which its PF also holds as the
    /// VF's admin MAC; until both agree the NIC's spoof check drops the
    /// pod's traffic. Some drivers need the netdev MAC set (mlx5); others
    /// take the admin MAC only when the VF resets and refuse a change from
    /// the VF side (igbvf, iavf), so a refusal is followed by a reset
    /// (the link closes) and a wait. The link's admin state is kept.
    pub async fn align_vf_mac(&self, index: u32, mac: &[u8]) -> Result<(), Error> {
        let want = format_mac(mac);
        let link =
            self.link_by_index(index).await?.ok_or_else(|| Error::NotFound { what: format!("link #{index}") })?;
        if link.mac == want {
            return Ok(());
        }
        let refused = match self.set_mac(index, mac.to_vec()).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        // The VF resets when its netdev closes (igbvf_close); opening it
        // alone does not, so a closed link is opened first.
        if !link.admin_up {
            self.set_up(index).await?;
        }
        self.set_down(index).await?;
        let deadline = tokio::time::Instant::now() + MAC_SYNC_TIMEOUT;
        let mut now = link.mac.clone();
        while tokio::time::Instant::now() < deadline {
            now = self.link_by_index(index).await?.map(|l| l.mac).unwrap_or_default();
            if now == want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if link.admin_up {
            self.set_up(index).await?;
        }
        if now != want {
            return Err(Error::Netlink {
                op: format!("giving VF netdev {} the MAC {want}", link.name),
                msg: format!("the driver refused it ({refused}) and after a VF reset the netdev still has {now}"),
            });
        }
        Ok(())
    }
}

impl VfState {
    /// The PF reports `attr` as set.
    pub fn has(&self, attr: &VfAttr) -> bool {
        match attr {
            VfAttr::Mac(m) => self.mac == format_mac(m),
            VfAttr::Vlan { id, qos, ad } => {
                self.vlan == *id && self.qos == *qos && (*id == 0 || (self.proto == "802.1ad") == *ad)
            }
            VfAttr::SpoofChk(on) => self.spoofchk == *on,
            VfAttr::Trust(on) => self.trust == *on,
            VfAttr::LinkState(s) => &self.link_state == s,
            VfAttr::Rate { min, max } => self.min_tx_rate == *min && self.max_tx_rate == *max,
        }
    }
}

/// `find`, every 100 ms until it finds something or `timeout` passes (the
/// kernel returns a device from a dead namespace asynchronously).
async fn poll<T>(timeout: Duration, find: impl AsyncFn() -> Result<Option<T>, Error>) -> Result<Option<T>, Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(found) = find().await? {
            return Ok(Some(found));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(vf: u32, mac: [u8; 6]) -> Vec<VfInfo> {
        vec![
            VfInfo::Mac(VfInfoMac::new(vf, &mac)),
            VfInfo::Vlan(VfInfoVlan::new(vf, 100, 3)),
            VfInfo::VlanList(vec![VfVlan::Info(VfVlanInfo::new(vf, 100, 3, VlanProtocol::Ieee8021Q))]),
            VfInfo::Rate(VfInfoRate::new(vf, 0, 100)),
            VfInfo::SpoofCheck(VfInfoSpoofCheck::new(vf, false)),
            VfInfo::Trust(VfInfoTrust::new(vf, true)),
            VfInfo::LinkState(VfInfoLinkState::new(vf, VfLinkState::Auto)),
        ]
    }

    #[test]
    fn the_pf_view_of_one_vf_is_read_and_compared() {
        assert_eq!(read_vf(1, info(0, [2, 0, 0, 0, 0, 1])), None);
        let s = read_vf(1, info(1, [2, 0, 0, 0, 0, 1])).unwrap();
        assert_eq!((s.mac.as_str(), s.vlan, s.qos, s.proto.as_str()), ("02:00:00:00:00:01", 100, 3, "802.1q"));
        assert!(s.has(&VfAttr::Vlan { id: 100, qos: 3, ad: false }));
        assert!(!s.has(&VfAttr::Vlan { id: 100, qos: 3, ad: true }));
        assert!(s.has(&VfAttr::Rate { min: 0, max: 100 }));
        assert!(s.has(&VfAttr::SpoofChk(false)) && s.has(&VfAttr::Trust(true)));
        assert!(s.has(&VfAttr::LinkState("auto".into())));
        assert!(s.has(&VfAttr::Mac(vec![2, 0, 0, 0, 0, 1])));
    }
}
