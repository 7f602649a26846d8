//! The record of each attachment (`<dataDir>/<containerID>_<ifname>.json`):
//! the device as it was on the host, so DEL can put it back by itself,
//! after a rename in the pod, with the netns gone, or with the original
//! name taken. It is written (atomic and durable, `cni::statefile::AttachmentFile`)
//! before the device moves.

use serde::{Deserialize, Serialize};

/// The file's name says whose attachment it is (`<containerID>_<ifname>.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// `CNI_IFNAME` and `CNI_NETNS` of the ADD: where the device went.
    pub ifname: String,
    pub netns: String,
    /// The device on the host before ADD.
    pub name: String,
    pub mac: String,
    pub mtu: u32,
    pub up: bool,
    /// The kernel's kind (`veth`, …; empty for a physical device), for CHECK.
    pub kind: String,
    /// Its PCI address, when it has one: how a physical device the kernel
    /// returned from a dead netns is found whatever its name.
    pub pci: Option<String>,
}
