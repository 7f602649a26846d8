//! One profile per plugin type, its facts written once, for the conformance
//! suite, the benches and the tests: how to configure it, what the host must
//! have for it, and what it may leave behind by design.

use crate::lab::Lab;
use crate::lab::macvlan::add_veth_master;
use crate::netns::Namespace;
use serde_json::{Value, json};
use std::path::Path;

/// The master link the stacked-link profiles hang off, in the host namespace
/// (one end of a veth pair: a stand-in for a NIC).
pub const MASTER: &str = "master0";
/// The master's veth peer (also in the host namespace, up, so the master has carrier).
pub const MASTER_PEER: &str = "peer0";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Creates an interface in the pod (bridge, macvlan, …).
    Interface,
    /// An IPAM plugin called as a network's only plugin: addresses, no interface.
    Ipam,
    /// A meta plugin chained after an interface plugin (sbr): every
    /// attachment runs [`Profile::prelude`] first, and its result is the
    /// plugin's `prevResult`; DEL runs the prelude's DEL after the plugin's.
    Chained,
    /// The pod's loopback (`loopback`): no IPAM, no keys; it reports `lo`
    /// whatever `CNI_IFNAME` says, and a second ADD only brings `lo` up again.
    Loopback,
}

/// The route CHECK must miss when it is deleted (`ip route del …`): the
/// IPAM route every profile's network has.
const IPAM_ROUTE: &[&str] = &["10.99.0.0/16"];

pub struct Profile {
    pub name: &'static str,
    pub kind: Kind,
    /// A kernel link type the lab must be able to create (`ipvlan`, `vlan`).
    pub needs_link: Option<&'static str>,
    /// Creates [`MASTER`] in the host namespace.
    pub needs_master: bool,
    /// Honours `runtimeConfig.mac` (the `mac` capability).
    pub takes_mac: bool,
    /// Hands every attachment a distinct address (`static` does not).
    pub unique_addresses: bool,
    /// Why one network holds at most one pod per node, if it does; `None`
    /// when several pods can attach to one network.
    pub single_pod: Option<&'static str>,
    /// Needs SR-IOV VFs (found by `vfs.rs`): runs in the namespace this process
    /// is in (the node's: VF netdevs and their sysfs entries are only
    /// visible there), with one free VF per attachment.
    pub vfs: bool,
    /// `ip route del` arguments of a route ADD made, for CHECK to miss;
    /// empty for a plugin that makes no route (tuning).
    pub tamper_route: &'static [&'static str],
    /// Host devices to hand to pods (host-device): [`Profile::HOST_DEVICES`]
    /// veth pairs `hdevN`/`hpeerN` in the host namespace, one per network.
    pub host_devices: bool,
    /// The type's own keys; `{}` when none are needed.
    keys: fn(&Site) -> Value,
    /// Keys that make the config invalid, and the key an error should name.
    pub invalid: (&'static str, fn() -> Value),
}

/// Where network `net` of a profile lives, for its keys: a lab's, or a bench's.
pub struct Site<'a> {
    /// Unique to the node; names the bridge.
    pub prefix: &'a str,
    /// A directory private to the site, for the plugin's state.
    pub dir: &'a Path,
    /// The devices (SR-IOV VFs) the site's networks use, one per network.
    pub devices: &'a [String],
    pub net: usize,
}

impl Site<'_> {
    /// Network `net` of `lab`.
    pub fn of_lab(lab: &Lab, net: usize) -> Site<'_> {
        Site { prefix: &lab.prefix, dir: lab.tmp(), devices: &lab.devices, net }
    }
}

fn none(_: &Site) -> Value {
    json!({})
}

/// Every profile, in the order the suite reports them.
pub static PROFILES: &[&Profile] = &[
    &BRIDGE,
    &MACVLAN,
    &IPVLAN,
    &VLAN,
    &SRIOV,
    &SBR,
    &PTP,
    &HOST_DEVICE,
    &TUNING,
    &PORTMAP,
    &FIREWALL,
    &DUMMY,
    &VRF,
    &HOST_LOCAL,
    &STATIC,
    &LOOPBACK,
    &CLUSTER_IPAM,
    &BANDWIDTH,
    &TAP,
];

/// What a plugin type is unless its profile says otherwise: an interface
/// plugin with host-local, no master, no `mac` capability, a distinct
/// address per attachment and several pods per network.
const INTERFACE: Profile = Profile {
    name: "",
    kind: Kind::Interface,
    needs_link: None,
    needs_master: false,
    takes_mac: false,
    single_pod: None,
    unique_addresses: true,
    vfs: false,
    tamper_route: IPAM_ROUTE,
    host_devices: false,
    keys: none,
    invalid: ("", || json!({})),
};

/// Every pod's loopback: the runtime's own network, before the pod's.
pub static LOOPBACK: Profile = Profile {
    name: "loopback",
    kind: Kind::Loopback,
    // Every pod's lo has 127.0.0.1/8.
    unique_addresses: false,
    // No route of its own: lo's are the kernel's.
    tamper_route: &[],
    // No keys: the value it must refuse is the network name (skel's rule).
    invalid: ("name", || json!({ "name": "../x" })),
    ..INTERFACE
};

pub static BRIDGE: Profile = Profile {
    name: "bridge",
    takes_mac: true,
    keys: |s| json!({ "bridge": format!("{}b{}", s.prefix, s.net), "isGateway": true }),
    invalid: ("vlan", || json!({ "vlan": 5000 })),
    ..INTERFACE
};

pub static MACVLAN: Profile = Profile {
    name: "macvlan",
    needs_master: true,
    takes_mac: true,
    keys: |_| json!({ "master": MASTER }),
    invalid: ("mode", || json!({ "mode": "sideways" })),
    ..INTERFACE
};

pub static IPVLAN: Profile = Profile {
    name: "ipvlan",
    needs_link: Some("ipvlan"),
    needs_master: true,
    // stateDir is railcni's; other ipvlan plugins ignore the key.
    keys: |s| json!({ "master": MASTER, "stateDir": s.dir.join("ipvlan-state") }),
    invalid: ("mode", || json!({ "mode": "l4" })),
    ..INTERFACE
};

pub static VLAN: Profile = Profile {
    name: "vlan",
    needs_link: Some("vlan"),
    needs_master: true,
    // The kernel allows one vlan link per VID on a master (EEXIST), and a
    // network's pods share both.
    single_pod: Some("the kernel allows one link per VLAN id on a master, so a vlan network holds one pod per node"),
    keys: |s| json!({ "master": MASTER, "vlanId": 100 + s.net }),
    invalid: ("vlanId", || json!({ "vlanId": 5000 })),
    ..INTERFACE
};

pub static SRIOV: Profile = Profile {
    name: "sriov",
    takes_mac: true,
    vfs: true,
    // dataDir is railcni's (sriov-cni's is fixed); the VF is the network's (pods > 0: the pod's, see Target::verb).
    keys: |s| json!({ "deviceID": s.devices.get(s.net), "dataDir": s.dir.join("sriov") }),
    invalid: ("vlan", || json!({ "vlan": 5000 })),
    ..INTERFACE
};

pub static SBR: Profile = Profile {
    name: "sbr",
    kind: Kind::Chained,
    needs_master: true, // the prelude's macvlan
    // sbr moves the interface's routes to table 100 and adds a default route there.
    tamper_route: &["default", "table", "100"],
    // `table` is the reference's key since v1.6.0.
    invalid: ("table", || json!({ "table": -1 })),
    ..INTERFACE
};

pub static PTP: Profile = Profile { name: "ptp", invalid: ("mtu", || json!({ "mtu": -1 })), ..INTERFACE };

/// A veth end of the host per network (`hdevN`) moved into the pod; DEL puts it back.
pub static HOST_DEVICE: Profile = Profile {
    name: "host-device",
    host_devices: true,
    single_pod: Some("a host device serves one pod at a time, so a host-device network holds one pod per node"),
    // dataDir (the attachment records) is railcni's; the reference ignores the key.
    keys: |s| json!({ "device": format!("hdev{}", s.net), "dataDir": s.dir.join("host-device") }),
    invalid: ("device", || json!({ "device": "nosuchdev0" })),
    ..INTERFACE
};

/// tuning after the prelude's macvlan: the rail's MTU and a sysctl of the interface.
pub static TUNING: Profile = Profile {
    name: "tuning",
    kind: Kind::Chained,
    needs_master: true, // the prelude's macvlan
    takes_mac: true,
    // tuning makes no route.
    tamper_route: &[],
    keys: |s| json!({ "mtu": 1400, "sysctl": { "net.ipv4.conf.IFNAME.arp_ignore": "1" }, "dataDir": s.dir.join("tuning") }),
    invalid: ("sysctl", || json!({ "sysctl": { "kernel.pid_max": "4096" } })),
    ..INTERFACE
};

/// portmap after the prelude's macvlan: one TCP host port per attachment
/// (`runtimeConfig` written into the config, as libcni writes it from the
/// `portMappings` capability), in the node's nftables.
pub static PORTMAP: Profile = Profile {
    name: "portmap",
    kind: Kind::Chained,
    needs_master: true, // the prelude's macvlan
    // portmap makes no route.
    tamper_route: &[],
    keys: |_| json!({ "runtimeConfig": { "portMappings": [{ "hostPort": 18080, "containerPort": 80, "protocol": "tcp" }] } }),
    invalid: ("markMasqBit", || json!({ "markMasqBit": 32 })),
    ..INTERFACE
};

/// firewall after the prelude's macvlan: accepts for the pod's address in the node's forward path.
pub static FIREWALL: Profile = Profile {
    name: "firewall",
    kind: Kind::Chained,
    needs_master: true, // the prelude's macvlan
    // firewall makes no route.
    tamper_route: &[],
    keys: |_| json!({ "ingressPolicy": "open" }),
    invalid: ("ingressPolicy", || json!({ "ingressPolicy": "closed" })),
    ..INTERFACE
};

/// A dummy link in the pod (the VM stage: the CI host has no dummy module).
pub static DUMMY: Profile =
    // The suite merges this into a working config, so an empty `ipam` would keep its type.
    Profile {
        name: "dummy",
        needs_link: Some("dummy"),
        invalid: ("ipam.type", || json!({ "ipam": { "type": "" } })),
        ..INTERFACE
    };

/// vrf after the prelude's macvlan (the VM stage: the CI host has no vrf module).
pub static VRF: Profile = Profile {
    name: "vrf",
    kind: Kind::Chained,
    needs_master: true, // the prelude's macvlan
    needs_link: Some("vrf"),
    // The prelude's routes are the kernel's, which move into the VRF's table with the interface.
    tamper_route: &[],
    keys: |_| json!({ "vrfname": "rcvrf0", "table": 1000 }),
    invalid: ("vrfname", || json!({ "vrfname": "" })),
    ..INTERFACE
};

pub static HOST_LOCAL: Profile = Profile {
    name: "host-local",
    kind: Kind::Ipam,
    invalid: ("ipam.ranges", || json!({ "ipam": { "ranges": [[{ "subnet": "10.96.0.0/33" }]] } })),
    ..INTERFACE
};

pub static STATIC: Profile = Profile {
    name: "static",
    kind: Kind::Ipam,
    unique_addresses: false,
    invalid: ("ipam.addresses", || json!({ "ipam": { "addresses": [{ "address": "10.96.0.300/24" }] } })),
    ..INTERFACE
};

/// Its state lives in etcd ([`crate::cluster_ipam`]: the endpoints, the leak facts).
pub static CLUSTER_IPAM: Profile = Profile {
    name: "cluster-ipam",
    kind: Kind::Ipam,
    invalid: ("ipam.range", || json!({ "ipam": { "range": "10.96.0.0/33" } })),
    ..INTERFACE
};

/// bandwidth after a ptp prelude (whose host veth it shapes): 10 Mbit/s
/// each way, 10 KB bursts.
pub static BANDWIDTH: Profile = Profile {
    name: "bandwidth",
    kind: Kind::Chained,
    // bandwidth makes no route; its state is qdiscs and an ifb.
    tamper_route: &[],
    keys: |_| json!({ "ingressRate": 10_000_000, "ingressBurst": 80_000, "egressRate": 10_000_000, "egressBurst": 80_000 }),
    invalid: ("ingressBurst", || json!({ "ingressRate": 1000, "ingressBurst": 0 })),
    ..INTERFACE
};

/// A tap in the pod with host-local's address (the reference 1.1.1 has no tap).
pub static TAP: Profile =
    Profile { name: "tap", takes_mac: true, invalid: ("mac", || json!({ "mac": "02:00:00" })), ..INTERFACE };

impl Profile {
    pub fn find(name: &str) -> Option<&'static Profile> {
        PROFILES.iter().copied().find(|p| p.name == name)
    }

    /// The interface ADD reports in the pod when the runtime asks for
    /// `ifname`: `lo` for loopback, whatever it is asked.
    pub fn pod_ifname<'a>(&self, ifname: &'a str) -> &'a str {
        if self.kind == Kind::Loopback { "lo" } else { ifname }
    }

    /// Several pods can attach to one network.
    pub fn shared(&self) -> bool {
        self.single_pod.is_none()
    }

    /// The type's own keys for network `site.net`: `type` and these make
    /// the plugin object, before its IPAM.
    pub fn keys(&self, site: &Site) -> Value {
        let mut keys = json!({ "type": self.name });
        if let (Some(k), Some(own)) = (keys.as_object_mut(), (self.keys)(site).as_object()) {
            k.extend(own.clone());
        }
        keys
    }

    /// The type's keys for one network on a link the caller made: `link`
    /// is the master of a stacked-link type (instead of [`MASTER`]) or the
    /// VF of sriov, and `dir` the caller's private directory. For labs,
    /// benches and tests whose links are their own, so that the type's
    /// keys stay written once, here.
    pub fn keys_on(&self, dir: &Path, link: &str) -> Value {
        let devices = [link.to_string()];
        let mut keys = self.keys(&Site { prefix: "", dir, devices: &devices, net: 0 });
        if let Some(master) = keys.get_mut("master") {
            *master = json!(link);
        }
        keys
    }

    /// host-local storing into `data_dir`, handing out from `ranges`: the
    /// IPAM every host-local network of the profiles, labs and benches has.
    pub fn host_local(data_dir: &Path, ranges: Value) -> Value {
        json!({ "type": "host-local", "dataDir": data_dir.display().to_string(), "ranges": ranges })
    }

    /// The subnet of network number `net` (0-based): distinct per network.
    pub fn subnet(net: usize) -> String {
        format!("10.{}.0.0/24", 90 + net)
    }

    /// The plugin object for network `net` of `lab`: the type's keys and its IPAM,
    /// which always includes one route so that CHECK has a route to verify.
    pub fn plugin(&self, lab: &Lab, net: usize) -> Value {
        let mut p = (self.keys)(&Site::of_lab(lab, net));
        p["type"] = json!(self.name);
        if matches!(self.kind, Kind::Chained | Kind::Loopback) {
            return p;
        }
        let subnet = Profile::subnet(net);
        let route = json!([{ "dst": "10.99.0.0/16" }]);
        p["ipam"] = match self.name {
            "static" => {
                let addr = subnet.replace(".0/24", ".5/24");
                json!({ "type": "static", "addresses": [{ "address": addr, "gateway": subnet.replace(".0/24", ".1") }], "routes": route })
            }
            "cluster-ipam" => crate::cluster_ipam::ipam(lab, net, &subnet, route),
            _ => {
                let mut ipam = Profile::host_local(&lab.ipam_dir(), json!([[{ "subnet": subnet }]]));
                ipam["routes"] = route;
                ipam
            }
        };
        p
    }

    /// For a [`Kind::Chained`] type, the interface plugin before it in
    /// network `net`: `macvlan` on [`MASTER`] from the same plugin set (the
    /// runtime's search path: the directory under test, then
    /// [`crate::binary::REFERENCE_DIR`]), with host-local. Its IPAM has no routes,
    /// so that its CHECK has none to look for in main after sbr moved them.
    pub fn prelude(&self, lab: &Lab, net: usize) -> Option<Value> {
        (self.kind == Kind::Chained).then(|| {
            let ipam =
                Profile::host_local(&lab.tmp().join("prelude-ipam"), json!([[{ "subnet": Profile::subnet(net) }]]));
            // bandwidth shapes the host end of a veth: ptp makes one.
            if self.name == "bandwidth" {
                return json!({ "type": "ptp", "ipam": ipam });
            }
            json!({ "type": "macvlan", "master": MASTER, "ipam": ipam })
        })
    }

    /// Host-side preparation, done once per lab.
    pub fn prepare(&self, lab: &mut Lab) -> Result<(), String> {
        self.prepare_host(&lab.host)?;
        if self.vfs {
            lab.devices = crate::vfs::free();
        }
        Ok(())
    }

    /// What a host namespace needs before the type's first ADD: its master, its devices.
    pub fn prepare_host(&self, host: &Namespace) -> Result<(), String> {
        if self.needs_master {
            add_veth_master(host, MASTER, MASTER_PEER)?;
        }
        if self.host_devices {
            for n in 0..Profile::HOST_DEVICES {
                add_veth_master(host, &format!("hdev{n}"), &format!("hpeer{n}"))?;
            }
        }
        Ok(())
    }

    /// The host devices a host-device lab has: pod 0's network and Multus's three.
    pub const HOST_DEVICES: usize = 4;

    /// The fewest free VFs a sriov lab needs: Multus's three networks beside pod 0's.
    pub const MIN_VFS: usize = 4;

    /// `Some(reason)` if the lab's kernel cannot host this type's links.
    pub fn kernel_lacks(&self, lab: &Lab) -> Option<String> {
        if self.vfs && lab.devices.len() < Profile::MIN_VFS {
            return Some(format!(
                "needs {} free SR-IOV VFs with netdevs in this namespace; found {:?} (enable VFs: echo N > /sys/class/net/<pf>/device/sriov_numvfs)",
                Profile::MIN_VFS,
                lab.devices
            ));
        }
        let kind = self.needs_link?;
        let mut args = vec!["link", "add", "probe0"];
        match kind {
            "vlan" => args.extend(["link", MASTER, "type", kind, "id", "4000"]),
            "vrf" => args.extend(["type", kind, "table", "4000"]),
            "ipvlan" | "macvlan" => args.extend(["link", MASTER, "type", kind]),
            _ => args.extend(["type", kind]),
        }
        match lab.host.ip(&args) {
            Ok(_) => {
                let _ = lab.host.ip(&["link", "del", "probe0"]);
                None
            }
            Err(e) => Some(format!("this kernel cannot create {kind} links ({})", e.trim())),
        }
    }

    /// Host links that stay after DEL by design: the master, and bridge's
    /// bridges (with their gateway addresses), which outlive attachments.
    pub fn persistent_link(&self, lab: &Lab, name: &str) -> bool {
        name == MASTER
            || name == MASTER_PEER
            || (self.name == "bridge" && name.starts_with(&format!("{}b", lab.prefix)))
    }
}
