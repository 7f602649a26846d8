//! Secondary networks: pods whose network is railcni's macvlan (the plugin
//! Multus delegates to for a rail) on a master link of the node, through
//! the same CRI life cycle. Needs root, containerd and runc
//! (conformance/setup.sh).

use cri::{Plugins, Stage, conflists};

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
