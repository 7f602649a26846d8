//! Secondary networks and chains: pods whose network is railcni's macvlan
//! (the plugin Multus delegates to for a rail) on a master link of the
//! node, and pods on a conflist of bridge + tuning, through the same CRI
//! life cycle. Needs root, containerd and runc (conformance/setup.sh).

use cri::{Plugins, Stage, conflists, node};

#[test]
fn macvlan_pods_get_addresses_on_the_master_and_leave_nothing() {
    let master = format!("rcm{}", std::process::id() % 1_000_000);
    let peer = format!("{master}p");
    let mut stage = Stage::start(Plugins::Railcni, |data_dir| {
        conflists::macvlan("railcni-cri-macvlan", &master, "10.123.8.0/24", data_dir)
    });
    // The master is one end of a veth; the node reaches the macvlan pods
    // through the other end (a macvlan's own master cannot reach its
    // children), as a peer on the rail's switch would.
    stage.node.ip(&["link", "add", &master, "type", "veth", "peer", "name", &peer]);
    stage.node.ip(&["addr", "add", "10.123.8.1/24", "dev", &peer]);
    for link in [&master, &peer] {
        stage.node.ip(&["link", "set", link, "up"]);
    }

    let pods: Vec<_> = (0..2).map(|i| stage.run_pod(&format!("macvlan-{i}"))).collect();
    assert_ne!(pods[0].ip, pods[1].ip);
    for pod in &pods {
        assert!(pod.ip.starts_with("10.123.8."), "pod {} got {}", pod.id, pod.ip);
        stage.assert_up(pod);
    }
    for pod in &pods {
        stage.remove_and_assert_gone(pod);
    }
    assert_eq!(stage.reservations(), Vec::<String>::new(), "host-local reservations left");
}

#[test]
fn bridge_and_tuning_pods_get_the_tuned_mtu_and_sysctl_and_leave_nothing() {
    let bridge = format!("rct{}", std::process::id() % 1_000_000);
    let tuning_dir = tempfile::tempdir().expect("tuning dir");
    let mut stage = Stage::start(Plugins::Railcni, |data_dir| {
        conflists::bridge_with_tuning("railcni-cri-tuning", &bridge, "10.123.9.0/24", data_dir, tuning_dir.path())
    });
    let pods: Vec<_> = (0..2).map(|i| stage.run_pod(&format!("tuned-{i}"))).collect();
    for pod in &pods {
        stage.assert_up(pod);
        let ns = format!("--net={}", pod.netns.display());
        let link = node::run("nsenter", &[&ns, "ip", "-j", "link", "show", "dev", "eth0"]);
        let link: serde_json::Value = serde_json::from_str(&link).expect("ip -j prints JSON");
        assert_eq!(link[0]["mtu"], 1400, "pod {}: tuning's MTU on eth0: {link}", pod.id);
        let arp_ignore = node::run("nsenter", &[&ns, "cat", "/proc/sys/net/ipv4/conf/eth0/arp_ignore"]);
        assert_eq!(arp_ignore.trim(), "1", "pod {}: tuning's sysctl on eth0", pod.id);
    }
    for pod in &pods {
        stage.remove_and_assert_gone(pod);
    }
    assert_eq!(stage.reservations(), Vec::<String>::new(), "host-local reservations left");
    let backups: Vec<_> = std::fs::read_dir(tuning_dir.path()).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(backups.is_empty(), "tuning backups left: {:?}", backups.iter().map(|e| e.path()).collect::<Vec<_>>());
}
