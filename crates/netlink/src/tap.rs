//! tap devices, made the only way the kernel offers: open `/dev/net/tun`
//! and `TUNSETIFF` on it (include/uapi/linux/if_tun.h). The device is born
//! in the network namespace of the thread that opens the file, so callers
//! run [`create`] inside the pod (`Sockets::in_pod`). It is made persistent
//! so it outlives the descriptor, and the owner and group set here are
//! who may attach to it later; an attach is the same `TUNSETIFF`
//! ([`attach`]), which a VM or a test does to send and receive frames.

use crate::{Error, Netlink};
use netlink_packet_core::Nla;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{InfoData, InfoKind, InfoTun, LinkAttribute, LinkInfo};
use rtnetlink::LinkUnspec;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;

const IFF_TAP: i16 = 0x0002;
const IFF_NO_PI: i16 = 0x1000;
const IFF_VNET_HDR: i16 = 0x4000;
const IFF_MULTI_QUEUE: i16 = 0x0100;
const IFNAMSIZ: usize = 16;

/// `struct ifreq` as TUNSETIFF reads it: the name, then the flags in the union.
#[repr(C)]
struct IfReq {
    name: [u8; IFNAMSIZ],
    flags: i16,
    _pad: [u8; 22],
}

nix::ioctl_write_ptr_bad!(tun_set_iff, nix::request_code_write!(b'T', 202, size_of::<i32>()), IfReq);
nix::ioctl_write_int_bad!(tun_set_persist, nix::request_code_write!(b'T', 203, size_of::<i32>()));
nix::ioctl_write_int_bad!(tun_set_owner, nix::request_code_write!(b'T', 204, size_of::<i32>()));
nix::ioctl_write_int_bad!(tun_set_group, nix::request_code_write!(b'T', 206, size_of::<i32>()));

/// What a new tap is.
#[derive(Debug, Clone, Default)]
pub struct TapSpec<'a> {
    pub name: &'a str,
    pub multi_queue: bool,
    /// The uid allowed to attach (any process with CAP_NET_ADMIN otherwise).
    pub owner: Option<u32>,
    /// The gid allowed to attach.
    pub group: Option<u32>,
}

fn ifreq(name: &str, flags: i16) -> Result<IfReq, Error> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= IFNAMSIZ {
        return Err(Error::Netlink { op: format!("naming tap {name:?}"), msg: "not a valid interface name".into() });
    }
    let mut req = IfReq { name: [0; IFNAMSIZ], flags, _pad: [0; 22] };
    req.name[..bytes.len()].copy_from_slice(bytes);
    Ok(req)
}

fn open_tun() -> Result<File, Error> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .map_err(|source| Error::Io { what: "opening /dev/net/tun".into(), source })
}

fn kernel(op: String) -> impl FnOnce(nix::errno::Errno) -> Error {
    move |e| Error::Kernel { op, errno: e as i32 }
}

/// Create a persistent tap in the calling thread's network namespace.
/// The descriptor is closed on return: the device stays, with no reader.
pub fn create(spec: &TapSpec<'_>) -> Result<(), Error> {
    crate::fault::step("creating a tap");
    let tun = open_tun()?;
    let fd = tun.as_raw_fd();
    let mut flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if spec.multi_queue {
        flags |= IFF_MULTI_QUEUE;
    }
    let req = ifreq(spec.name, flags)?;
    // SAFETY: `req` is a valid, initialised ifreq that outlives the call; `fd` is open.
    unsafe { tun_set_iff(fd, &req) }.map_err(kernel(format!("creating tap {}", spec.name)))?;
    if let Some(uid) = spec.owner {
        // SAFETY: an integer argument on an open descriptor.
        unsafe { tun_set_owner(fd, uid as i32) }.map_err(kernel(format!("setting the owner of tap {}", spec.name)))?;
    }
    if let Some(gid) = spec.group {
        // SAFETY: as above.
        unsafe { tun_set_group(fd, gid as i32) }.map_err(kernel(format!("setting the group of tap {}", spec.name)))?;
    }
    // SAFETY: as above.
    unsafe { tun_set_persist(fd, 1) }.map_err(kernel(format!("making tap {} persistent", spec.name)))?;
    crate::fault::step("made a persistent tap");
    Ok(())
}

/// Attach to the existing tap `name` in the calling thread's namespace, as
/// a VM would: the file reads and writes whole Ethernet frames (no packet
/// information, no virtio header).
pub fn attach(name: &str, multi_queue: bool) -> Result<File, Error> {
    let tun = open_tun()?;
    let mut flags = IFF_TAP | IFF_NO_PI;
    if multi_queue {
        flags |= IFF_MULTI_QUEUE;
    }
    let req = ifreq(name, flags)?;
    // SAFETY: `req` is a valid ifreq that outlives the call; the descriptor is open.
    unsafe { tun_set_iff(tun.as_raw_fd(), &req) }.map_err(kernel(format!("attaching to tap {name}")))?;
    Ok(tun)
}

/// What the kernel reports of a tap (IFLA_INFO_DATA of kind "tun").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TapInfo {
    /// IFF_TAP rather than a layer-3 tun.
    pub tap: bool,
    pub multi_queue: bool,
    pub persist: bool,
    pub owner: Option<u32>,
    pub group: Option<u32>,
}

/// IFLA_TUN_* (include/uapi/linux/if_link.h).
const IFLA_TUN_OWNER: u16 = 1;
const IFLA_TUN_GROUP: u16 = 2;
const IFLA_TUN_TYPE: u16 = 3;
const IFLA_TUN_PERSIST: u16 = 6;
const IFLA_TUN_MULTI_QUEUE: u16 = 7;

impl TapInfo {
    fn from_attrs(attrs: &[InfoTun]) -> TapInfo {
        let mut info = TapInfo::default();
        for attr in attrs {
            let InfoTun::Other(nla) = attr else { continue };
            let mut v = vec![0u8; nla.value_len()];
            nla.emit_value(&mut v);
            let u32_of = |v: &[u8]| v.get(..4).map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
            let on = v.first().is_some_and(|b| *b != 0);
            match nla.kind() {
                IFLA_TUN_OWNER => info.owner = u32_of(&v),
                IFLA_TUN_GROUP => info.group = u32_of(&v),
                IFLA_TUN_TYPE => info.tap = v.first() == Some(&(IFF_TAP as u8)),
                IFLA_TUN_PERSIST => info.persist = on,
                IFLA_TUN_MULTI_QUEUE => info.multi_queue = on,
                _ => {}
            }
        }
        info
    }
}

impl Netlink {
    /// The tap attributes of link `index`; `None` if it is not a tun/tap.
    pub async fn tap_info(&self, index: u32) -> Result<Option<TapInfo>, Error> {
        let msg = LinkUnspec::new_with_index(index).build();
        let (replies, _) = self
            .request(RouteNetlinkMessage::GetLink(msg), 0, &format!("reading the tap attributes of #{index}"))
            .await?;
        for m in replies {
            let RouteNetlinkMessage::NewLink(l) = m else { continue };
            for a in l.attributes {
                let LinkAttribute::LinkInfo(infos) = a else { continue };
                let mut is_tun = false;
                let mut data = None;
                for i in infos {
                    match i {
                        LinkInfo::Kind(InfoKind::Tun) => is_tun = true,
                        LinkInfo::Data(InfoData::Tun(attrs)) => data = Some(TapInfo::from_attrs(&attrs)),
                        _ => {}
                    }
                }
                if is_tun {
                    return Ok(Some(data.unwrap_or_default()));
                }
            }
        }
        Ok(None)
    }
}
