//! The netlink layer against the real kernel, in namespaces these tests make.
//! Each test runs on its own thread, moved into a private "host" namespace,
//! so nothing is created in the machine's own namespace.

use ipnetwork::IpNetwork;
use netlink::{BridgeSpec, Netlink, Netns, Route, Rule, Sockets, VethSpec, block_on, sysctl};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A named netns (`ip netns add`), deleted on drop even if the test fails.
struct TestNs {
    name: String,
}

impl TestNs {
    fn new(role: &str) -> TestNs {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("rcnl-{}-{}-{role}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let ok = Command::new("ip").args(["netns", "add", &name]).status().expect("ip netns add").success();
        assert!(ok, "ip netns add {name}");
        TestNs { name }
    }

    fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }
}

/// `ip -n <ns> ARGS`, for looking at what the kernel has.
fn ip_in(ns: &str, args: &[&str]) -> String {
    let out = Command::new("ip").arg("-n").arg(ns).args(args).output().expect("ip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Drop for TestNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// Run `f` on a fresh thread that lives in `host` for its whole life.
fn in_host<T: Send + 'static>(host: &TestNs, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = host.path();
    std::thread::spawn(move || {
        let ns = Netns::open(Path::new(&path)).expect("open host ns");
        nix::sched::setns(std::fs::File::open(ns.path()).expect("ns file"), nix::sched::CloneFlags::CLONE_NEWNET)
            .expect("setns");
        f()
    })
    .join()
    .expect("test thread panicked")
}

#[test]
fn only_namespace_files_are_accepted() {
    let e = Netns::open(Path::new("/etc/hostname")).unwrap_err();
    assert!(e.to_string().contains("not a network namespace"), "{e}");
    assert!(matches!(Netns::open(Path::new("/run/netns/does-not-exist")), Err(netlink::Error::Netns { .. })));
    let host = TestNs::new("host");
    assert!(Netns::open(Path::new(&host.path())).is_ok());
    assert!(Netns::open(Path::new("/proc/self/ns/net")).is_ok());
}

#[test]
fn veth_peer_is_born_in_the_pod_and_joins_a_bridge() {
    let (host, pod) = (TestNs::new("host"), TestNs::new("pod"));
    let pod_path = pod.path();
    in_host(&host, move || {
        block_on(async move {
            let ns = Sockets::open(&pod_path).unwrap();
            let br = ns
                .host
                .ensure_bridge(&BridgeSpec { name: "rcnlbr0", mtu: Some(1400), ..BridgeSpec::default() })
                .await
                .unwrap();
            // A second ensure finds the same bridge.
            assert_eq!(
                ns.host.ensure_bridge(&BridgeSpec { name: "rcnlbr0", ..BridgeSpec::default() }).await.unwrap().index,
                br.index
            );
            let mac = netlink::parse_mac("02:11:22:33:44:55").unwrap();
            let spec = VethSpec {
                name: "vethrcnl",
                peer: "eth0",
                peer_ns_fd: ns.pod_ns.fd(),
                mtu: Some(1400),
                peer_mac: Some(mac),
                txqueuelen: Some(0),
            };
            ns.host.add_veth(&spec).await.unwrap();
            let hv = ns.host.require_link("vethrcnl").await.unwrap();
            let cv = ns.pod.require_link("eth0").await.unwrap();
            assert_eq!(
                (hv.kind.name(), cv.kind.name(), cv.mac.as_str(), cv.mtu),
                ("veth", "veth", "02:11:22:33:44:55", 1400)
            );
            assert!(ns.host.link_by_name("eth0").await.unwrap().is_none(), "the peer must not appear on the host");
            assert_eq!(cv.link, Some(hv.index), "the pod end points at its host peer");
            assert_eq!((hv.txqueuelen, cv.txqueuelen), (0, 0));

            ns.host.set_master(hv.index, br.index).await.unwrap();
            ns.host.set_bridge_port(hv.index, true, true).await.unwrap();
            let hv = ns.host.require_link("vethrcnl").await.unwrap();
            assert_eq!(hv.master, Some(br.index));
            assert!(hv.bridge_port.hairpin && hv.bridge_port.isolated, "{:?}", hv.bridge_port);

            ns.host.set_up(hv.index).await.unwrap();
            ns.pod.set_up(cv.index).await.unwrap();
            let up = ns.host.wait_oper_up(hv.index, Duration::from_secs(5)).await.unwrap();
            assert!(up.oper_up);
            // The pod end is waited on from the host thread too: its events come from the pod.
            let up = ns.wait_pod_link_up(cv.index, Duration::from_secs(5)).await.unwrap();
            assert!(up.oper_up && up.name == "eth0", "{up:?}");

            ns.pod.delete_link(cv.index).await.unwrap();
            assert!(ns.host.link_by_name("vethrcnl").await.unwrap().is_none(), "deleting one end removes both");
            ns.pod.delete_link(cv.index).await.unwrap();
        })
        .unwrap()
    });
}

/// A veth pair in this namespace with `name` up and `peer` down, so `name`
/// has no carrier yet.
async fn veth_one_end_up(nl: &Netlink, name: &str, peer: &str) -> netlink::Link {
    let here = Netns::current().unwrap();
    let spec = VethSpec { name, peer, peer_ns_fd: here.fd(), mtu: None, peer_mac: None, txqueuelen: None };
    nl.add_veth(&spec).await.unwrap();
    let link = nl.require_link(name).await.unwrap();
    nl.set_up(link.index).await.unwrap();
    link
}

#[test]
fn a_link_that_never_comes_up_times_out() {
    let host = TestNs::new("host");
    in_host(&host, || {
        block_on(async {
            let nl = Netlink::connect().unwrap();
            let a = veth_one_end_up(&nl, "rcnla", "rcnlb").await;
            // The peer stays down, so the carrier never comes.
            let e = nl.wait_oper_up(a.index, Duration::from_millis(200)).await.unwrap_err();
            assert!(matches!(e, netlink::Error::Timeout { .. }), "{e}");
        })
        .unwrap()
    });
}

/// Regression: a carrier change is reported by the kernel itself (linkwatch,
/// sender port id 0). The event socket was unbound, so its port id was 0 too,
/// and multicast skipped it as the sender: the wait ran into its timeout
/// whenever the carrier came after the first read (an SR-IOV VF, 1 in 3).
#[test]
fn a_carrier_change_the_kernel_reports_ends_the_wait() {
    let host = TestNs::new("host");
    in_host(&host, || {
        block_on(async {
            let nl = Netlink::connect().unwrap();
            let c = veth_one_end_up(&nl, "rcnlc", "rcnld").await;
            // The peer comes up from another process while we wait: the only
            // event about rcnlc is then the kernel's carrier change.
            let peer_up = async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let ok = Command::new("ip").args(["link", "set", "rcnld", "up"]).status().expect("ip").success();
                assert!(ok, "ip link set rcnld up");
            };
            let started = std::time::Instant::now();
            let (up, ()) = futures_util::future::join(nl.wait_oper_up(c.index, Duration::from_secs(5)), peer_up).await;
            assert!(up.unwrap().oper_up);
            assert!(started.elapsed() < Duration::from_secs(2), "woke after {:?}", started.elapsed());
        })
        .unwrap()
    });
}

#[test]
fn addresses_routes_rules_and_neighbours() {
    let host = TestNs::new("host");
    let h = host.name.clone();
    in_host(&host, move || {
        block_on(async move {
            let nl = Netlink::connect().unwrap();
            let here = Netns::current().unwrap();
            let spec = VethSpec {
                name: "rcnl0",
                peer: "rcnl1",
                peer_ns_fd: here.fd(),
                mtu: None,
                peer_mac: None,
                txqueuelen: None,
            };
            nl.add_veth(&spec).await.unwrap();
            let l0 = nl.require_link("rcnl0").await.unwrap();
            let l1 = nl.require_link("rcnl1").await.unwrap();
            nl.set_up(l0.index).await.unwrap();
            nl.set_up(l1.index).await.unwrap();

            let v4: IpNetwork = "10.31.0.5/24".parse().unwrap();
            let v6: IpNetwork = "fd00:31::5/64".parse().unwrap();
            nl.add_address(l0.index, v4, true).await.unwrap();
            nl.add_address(l0.index, v6, true).await.unwrap();
            assert!(nl.add_address(l0.index, v4, true).await.unwrap_err().is_exists());
            let addrs: Vec<_> = nl.addresses(Some(l0.index)).await.unwrap().into_iter().map(|a| a.cidr).collect();
            assert!(addrs.contains(&v4) && addrs.contains(&v6), "{addrs:?}");
            let shown = ip_in(&h, &["-6", "addr", "show", "rcnl0"]);
            let line = shown.lines().find(|l| l.contains("fd00:31::5")).unwrap_or_default();
            assert!(!line.is_empty() && !line.contains("tentative"), "nodad: {shown}");

            // A table above 255, a source hint, and ECMP.
            let table = Route {
                dst: Some("10.32.0.0/16".parse().unwrap()),
                gw: "10.31.0.1".parse().ok(),
                oif: Some(l0.index),
                table: Some(1001),
                src: "10.31.0.5".parse().ok(),
                ..Route::default()
            };
            nl.add_route(&table).await.unwrap();
            let ecmp = Route {
                dst: Some("10.33.0.0/16".parse().unwrap()),
                nexthops: vec![("10.31.0.1".parse().unwrap(), l0.index), ("10.31.0.2".parse().unwrap(), l0.index)],
                ..Route::default()
            };
            nl.add_route(&ecmp).await.unwrap();
            let in_1001 = nl.routes(true, Some(1001)).await.unwrap();
            assert_eq!(in_1001.len(), 1, "{in_1001:?}");
            assert_eq!((in_1001[0].gw, in_1001[0].src), (table.gw, table.src));
            let main = nl.routes(true, Some(netlink::TABLE_MAIN)).await.unwrap();
            let got = main.iter().find(|r| r.dst == ecmp.dst).expect("ECMP route");
            assert_eq!(got.nexthops.len(), 2, "{got:?}");
            nl.delete_route(&table).await.unwrap();
            nl.delete_route(&table).await.unwrap();
            assert!(nl.routes(true, Some(1001)).await.unwrap().is_empty());

            let rule = Rule {
                priority: Some(1001),
                from: Some("10.31.0.5/32".parse().unwrap()),
                table: 1001,
                ..Rule::default()
            };
            nl.add_rule(&rule).await.unwrap();
            let rules = nl.rules(false).await.unwrap();
            assert!(
                rules.iter().any(|r| r.priority == Some(1001) && r.table == 1001 && r.from == rule.from),
                "{rules:?}"
            );
            let rule6 = Rule {
                v6: true,
                priority: Some(1002),
                from: Some("fd00:31::5/128".parse().unwrap()),
                oif: Some("rcnl0".into()),
                table: 70000,
                ..Rule::default()
            };
            nl.add_rule(&rule6).await.unwrap();
            assert!(
                nl.rules(true).await.unwrap().iter().any(|r| r.table == 70000 && r.oif.as_deref() == Some("rcnl0"))
            );
            nl.delete_rule(&rule).await.unwrap();
            nl.delete_rule(&rule).await.unwrap();
            assert!(!nl.rules(false).await.unwrap().iter().any(|r| r.priority == Some(1001)));

            let mac = netlink::parse_mac("02:00:00:00:31:01").unwrap();
            nl.set_neighbour(l0.index, "10.31.0.1".parse().unwrap(), &mac).await.unwrap();
            let n = nl.neighbours(Some(l0.index)).await.unwrap();
            assert!(n.iter().any(|n| n.mac == "02:00:00:00:31:01" && n.permanent), "{n:?}");

            nl.delete_address(l0.index, v4).await.unwrap();
            nl.delete_address(l0.index, v4).await.unwrap();
        })
        .unwrap()
    });
}

#[test]
fn sysctls_land_in_the_pod_namespace() {
    let (host, pod) = (TestNs::new("host"), TestNs::new("pod"));
    let pod_path = pod.path();
    in_host(&host, move || {
        block_on(async move {
            let ns = Sockets::open(&pod_path).unwrap();
            let key = sysctl::iface("ipv4", "lo", "arp_notify");
            ns.in_pod(|| sysctl::set(&key, "1")).unwrap().unwrap();
            assert_eq!(ns.in_pod(|| sysctl::get(&key)).unwrap().unwrap(), "1");
            assert_eq!(sysctl::get(&key).unwrap(), "0", "the host namespace is untouched");
        })
        .unwrap()
    });
}

#[test]
fn masquerade_rules_are_found_by_attachment_not_address() {
    use netlink::nft::masq;
    let host = TestNs::new("host");
    let listing = in_host(&host, || {
        let v4: IpNetwork = "10.40.0.5/24".parse().unwrap();
        let v6: IpNetwork = "fd00:40::5/64".parse().unwrap();
        masq::setup("net-a", "eth0", "ctr1", &[v4, v6]).unwrap();
        masq::setup("net-a", "eth0", "ctr2", &["10.40.0.6/24".parse().unwrap()]).unwrap();
        // A repeated ADD replaces, never duplicates.
        masq::setup("net-a", "eth0", "ctr1", &[v4, v6]).unwrap();
        assert_eq!(masq::comments().unwrap().len(), 3);
        let listing = nft_in_thread();
        masq::teardown("net-a", "eth0", "ctr1").unwrap();
        masq::teardown("net-a", "eth0", "ctr1").unwrap();
        let left = masq::comments().unwrap();
        assert_eq!(left.len(), 1, "{left:?}");
        assert!(left[0].ends_with("id: ctr2"));
        // GC keeps the valid attachment, then removes it when it is no longer valid.
        assert_eq!(masq::gc("net-a", &[("eth0".into(), "ctr2".into())]).unwrap(), 0);
        assert_eq!(masq::gc("net-a", &[]).unwrap(), 1);
        assert!(masq::comments().unwrap().is_empty());
        listing
    });
    // What nft itself reads back from the kernel.
    assert!(listing.contains("ip saddr 10.40.0.5 ip daddr != 10.40.0.0/24 masquerade comment"), "{listing}");
    assert!(listing.contains("ip6 saddr fd00:40::5 ip6 daddr != fd00:40::/64 masquerade"), "{listing}");
    assert!(listing.contains("ip daddr 224.0.0.0/4 return"), "{listing}");
    assert!(listing.contains("goto masq_checks"), "{listing}");
    assert!(listing.contains("type nat hook postrouting priority srcnat"), "{listing}");
    assert_eq!(listing.matches("goto masq_checks").count(), 1, "{listing}");
}

/// `nft list table inet cni_plugins_masquerade` in the calling thread's namespace.
fn nft_in_thread() -> String {
    nft_list_thread(&["list", "table", "inet", "cni_plugins_masquerade"])
}

/// `nft ARGS` in the calling thread's namespace (the test's host).
fn nft_list_thread(args: &[&str]) -> String {
    let out = Command::new("nsenter")
        .arg(format!("--net=/proc/{}/task/{}/ns/net", std::process::id(), nix::unistd::gettid()))
        .arg("nft")
        .args(args)
        .output()
        .expect("nft");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn mac_spoof_check_chains_come_and_go() {
    use netlink::nft::spoofchk;
    let host = TestNs::new("host");
    let listing = in_host(&host, || {
        let mac = netlink::parse_mac("02:00:00:00:00:42").unwrap();
        spoofchk::setup("ctr1", "eth0", "vethabcd0001", &mac).unwrap();
        // Twice: replaced, not duplicated.
        spoofchk::setup("ctr1", "eth0", "vethabcd0001", &mac).unwrap();
        assert!(spoofchk::present("ctr1", "eth0").unwrap());
        let listing = nft_list_thread(&["list", "table", "bridge", "cni_spoofcheck"]);
        spoofchk::teardown("ctr1", "eth0").unwrap();
        spoofchk::teardown("ctr1", "eth0").unwrap();
        assert!(!spoofchk::present("ctr1", "eth0").unwrap());
        let after = nft_list_thread(&["list", "table", "bridge", "cni_spoofcheck"]);
        assert!(!after.contains("cni-br-iface-ctr1-eth0"), "{after}");
        listing
    });
    assert_eq!(listing.matches("iifname \"vethabcd0001\" jump cni-br-iface-ctr1-eth0").count(), 1, "{listing}");
    assert!(listing.contains("ether saddr 02:00:00:00:00:42 return"), "{listing}");
    assert!(listing.contains("drop comment \"macspoofchk-ctr1-eth0\""), "{listing}");
    // nft names priority -300 of the bridge family "dstnat".
    assert!(listing.contains("type filter hook prerouting priority dstnat"), "{listing}");
}
