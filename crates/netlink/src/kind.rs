//! Link kinds, each with the attributes only that kind has, and the modes
//! of the kinds railcni creates, by their CNI config names. The kernel's
//! encodings (rtnetlink's enums) stay inside this crate.

use netlink_packet_route::link::{
    InfoData, InfoIpVlan, InfoMacVlan, InfoVlan, InfoVrf, IpVlanFlags, IpVlanMode, MacVlanMode,
    VlanProtocol as WireProtocol,
};

/// What a link is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LinkKind {
    /// A physical device: no IFLA_INFO_KIND.
    #[default]
    Device,
    Veth,
    Bridge,
    /// `mode` is `None` when the kernel did not report it.
    Macvlan {
        mode: Option<MacvlanMode>,
    },
    Ipvlan {
        mode: IpvlanMode,
        flag: IpvlanFlag,
    },
    Vlan {
        id: u16,
        protocol: VlanProtocol,
    },
    /// A VRF device and its routing table.
    Vrf {
        table: u32,
    },
    /// Any other kind, by the kernel's name for it.
    Other(String),
}

impl LinkKind {
    /// The kernel's name of the kind (`ip -d link`'s), empty for a device.
    pub fn name(&self) -> &str {
        match self {
            LinkKind::Device => "",
            LinkKind::Veth => "veth",
            LinkKind::Bridge => "bridge",
            LinkKind::Macvlan { .. } => "macvlan",
            LinkKind::Ipvlan { .. } => "ipvlan",
            LinkKind::Vlan { .. } => "vlan",
            LinkKind::Vrf { .. } => "vrf",
            LinkKind::Other(name) => name,
        }
    }

    /// The kind from IFLA_INFO_KIND and, for the kinds with their own
    /// attributes, IFLA_INFO_DATA (which may be missing: defaults then).
    pub(crate) fn from_info(name: &str, data: Option<&InfoData>) -> LinkKind {
        match (name, data) {
            ("veth", _) => LinkKind::Veth,
            ("bridge", _) => LinkKind::Bridge,
            ("macvlan", Some(InfoData::MacVlan(attrs))) => LinkKind::Macvlan {
                mode: attrs.iter().find_map(|a| match a {
                    InfoMacVlan::Mode(m) => MacvlanMode::from_wire(*m),
                    _ => None,
                }),
            },
            ("macvlan", _) => LinkKind::Macvlan { mode: None },
            ("ipvlan", data) => {
                let (mut mode, mut flag) = (IpvlanMode::L3, IpvlanFlag::Bridge);
                if let Some(InfoData::IpVlan(attrs)) = data {
                    for a in attrs {
                        match a {
                            InfoIpVlan::Mode(m) => mode = IpvlanMode::from_wire(*m),
                            InfoIpVlan::Flags(f) => flag = IpvlanFlag::from_wire(*f),
                            _ => {}
                        }
                    }
                }
                LinkKind::Ipvlan { mode, flag }
            }
            ("vlan", data) => {
                let (mut id, mut protocol) = (0, VlanProtocol::Dot1q);
                if let Some(InfoData::Vlan(attrs)) = data {
                    for a in attrs {
                        match a {
                            InfoVlan::Id(v) => id = *v,
                            InfoVlan::Protocol(p) => protocol = VlanProtocol::from_wire(*p),
                            _ => {}
                        }
                    }
                }
                LinkKind::Vlan { id, protocol }
            }
            ("vrf", data) => LinkKind::Vrf {
                table: match data {
                    Some(InfoData::Vrf(attrs)) => attrs
                        .iter()
                        .find_map(|a| match a {
                            InfoVrf::TableId(t) => Some(*t),
                            _ => None,
                        })
                        .unwrap_or(0),
                    _ => 0,
                },
            },
            (other, _) => LinkKind::Other(other.to_string()),
        }
    }
}

/// The kind and its own attributes, as `ip -d link` shows them.
impl std::fmt::Display for LinkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkKind::Device => f.write_str("device"),
            LinkKind::Macvlan { mode } => write!(f, "macvlan mode {}", mode.map_or("unknown", MacvlanMode::name)),
            LinkKind::Ipvlan { mode, flag } => write!(f, "ipvlan mode {} {}", mode.name(), flag.name()),
            LinkKind::Vlan { id, protocol } => write!(f, "vlan protocol {} id {id}", protocol.name()),
            LinkKind::Vrf { table } => write!(f, "vrf table {table}"),
            other => f.write_str(other.name()),
        }
    }
}

/// Declares a mode enum with its config names, both ways.
macro_rules! named {
    ($(#[$doc:meta])* $ty:ident { $($variant:ident = $name:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $ty { $($variant),+ }

        impl $ty {
            pub fn parse(s: &str) -> Option<$ty> {
                match s {
                    $($name => Some($ty::$variant),)+
                    _ => None,
                }
            }

            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }
    };
}

named!(
    /// macvlan modes.
    MacvlanMode { Bridge = "bridge", Private = "private", Vepa = "vepa", Passthru = "passthru", Source = "source" }
);
named!(
    /// ipvlan modes (per master: the kernel's "port").
    IpvlanMode { L2 = "l2", L3 = "l3", L3s = "l3s" }
);
named!(
    /// ipvlan port flags; `bridge` is the kernel's 0.
    IpvlanFlag { Bridge = "bridge", Private = "private", Vepa = "vepa" }
);
named!(
    /// VLAN tag protocols.
    VlanProtocol { Dot1q = "802.1q", Dot1ad = "802.1ad" }
);

impl MacvlanMode {
    fn from_wire(m: MacVlanMode) -> Option<MacvlanMode> {
        Some(match m {
            MacVlanMode::Bridge => MacvlanMode::Bridge,
            MacVlanMode::Private => MacvlanMode::Private,
            MacVlanMode::Vepa => MacvlanMode::Vepa,
            MacVlanMode::Passthrough => MacvlanMode::Passthru,
            MacVlanMode::Source => MacvlanMode::Source,
            _ => return None,
        })
    }

    pub(crate) fn to_wire(self) -> MacVlanMode {
        match self {
            MacvlanMode::Bridge => MacVlanMode::Bridge,
            MacvlanMode::Private => MacVlanMode::Private,
            MacvlanMode::Vepa => MacVlanMode::Vepa,
            MacvlanMode::Passthru => MacVlanMode::Passthrough,
            MacvlanMode::Source => MacVlanMode::Source,
        }
    }
}

impl IpvlanMode {
    fn from_wire(m: IpVlanMode) -> IpvlanMode {
        match m {
            IpVlanMode::L2 => IpvlanMode::L2,
            IpVlanMode::L3S => IpvlanMode::L3s,
            _ => IpvlanMode::L3,
        }
    }

    pub(crate) fn to_wire(self) -> IpVlanMode {
        match self {
            IpvlanMode::L2 => IpVlanMode::L2,
            IpvlanMode::L3 => IpVlanMode::L3,
            IpvlanMode::L3s => IpVlanMode::L3S,
        }
    }
}

impl IpvlanFlag {
    fn from_wire(f: IpVlanFlags) -> IpvlanFlag {
        if f.contains(IpVlanFlags::Private) {
            IpvlanFlag::Private
        } else if f.contains(IpVlanFlags::Vepa) {
            IpvlanFlag::Vepa
        } else {
            IpvlanFlag::Bridge
        }
    }

    pub(crate) fn to_wire(self) -> IpVlanFlags {
        match self {
            IpvlanFlag::Bridge => IpVlanFlags::empty(),
            IpvlanFlag::Private => IpVlanFlags::Private,
            IpvlanFlag::Vepa => IpVlanFlags::Vepa,
        }
    }
}

impl VlanProtocol {
    fn from_wire(p: WireProtocol) -> VlanProtocol {
        match p {
            WireProtocol::Ieee8021Ad => VlanProtocol::Dot1ad,
            _ => VlanProtocol::Dot1q,
        }
    }

    pub(crate) fn to_wire(self) -> WireProtocol {
        match self {
            VlanProtocol::Dot1q => WireProtocol::Ieee8021Q,
            VlanProtocol::Dot1ad => WireProtocol::Ieee8021Ad,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in ["bridge", "private", "vepa", "passthru", "source"] {
            assert_eq!(MacvlanMode::parse(m).map(MacvlanMode::name), Some(m));
        }
        assert_eq!(IpvlanMode::parse("l3s"), Some(IpvlanMode::L3s));
        assert_eq!(IpvlanFlag::parse("bridge").map(IpvlanFlag::to_wire), Some(IpVlanFlags::empty()));
        assert_eq!(VlanProtocol::parse("802.1ad").map(VlanProtocol::name), Some("802.1ad"));
        assert_eq!(MacvlanMode::parse("l2"), None);
    }

    #[test]
    fn kinds_without_data_get_the_kernels_defaults() {
        assert_eq!(LinkKind::from_info("vlan", None), LinkKind::Vlan { id: 0, protocol: VlanProtocol::Dot1q });
        assert_eq!(LinkKind::from_info("dummy", None).name(), "dummy");
        assert_eq!(LinkKind::Device.name(), "");
        let vlan = LinkKind::Vlan { id: 100, protocol: VlanProtocol::Dot1ad };
        assert_eq!(vlan.to_string(), "vlan protocol 802.1ad id 100");
    }
}
