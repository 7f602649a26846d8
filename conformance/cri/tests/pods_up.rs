//! Pods up: RunPodSandbox onto a bridge that does not exist yet, five pods
//! one by one and five at once; each gets its own address, reported by
//! PodSandboxStatus and reachable from the node; Stop + Remove leave
//! nothing. Needs root, containerd and runc (conformance/setup.sh).

use cri::{Plugins, Stage, client::Cri, conflists};
use std::collections::HashSet;

const SUBNET: &str = "10.123.7.0/24";

#[test]
fn pods_on_a_new_bridge_get_unique_reachable_addresses_and_leave_nothing() {
    let bridge = format!("rcb{}", std::process::id() % 1_000_000);
    let mut stage =
        Stage::start(Plugins::Railcni, |data_dir| conflists::bridge("railcni-cri-pods", &bridge, SUBNET, data_dir));
    assert!(stage.node.links("bridge").is_empty(), "the bridge exists before the first pod");

    let mut pods: Vec<_> = (0..5).map(|i| stage.run_pod(&format!("serial-{i}"))).collect();
    assert_eq!(stage.node.links("bridge"), vec![bridge.clone()], "the first pod's ADD creates the bridge");

    // Five RunPodSandbox calls in flight at once, each on its own
    // connection, as kubelet's pod workers make them.
    let socket = stage.containerd.socket();
    let configs: Vec<_> = (0..5).map(|i| stage.pod_config(&format!("parallel-{i}"))).collect();
    let ids: Vec<String> = std::thread::scope(|s| {
        let calls: Vec<_> = configs.into_iter().map(|config| s.spawn(|| Cri::new(&socket).run_pod(config))).collect();
        calls.into_iter().map(|c| c.join().unwrap().expect("concurrent RunPodSandbox")).collect()
    });
    pods.extend(ids.iter().map(|id| stage.adopt(id)));

    let mut seen = HashSet::new();
    for pod in &pods {
        assert!(pod.ip.starts_with("10.123.7."), "pod {} got {} outside {SUBNET}", pod.id, pod.ip);
        assert!(seen.insert(pod.ip.clone()), "address {} given twice", pod.ip);
        stage.assert_up(pod);
    }
    assert_eq!(stage.reservations().len(), 10, "host-local holds one reservation per pod");

    for pod in &pods {
        stage.remove_and_assert_gone(pod);
    }
    assert_eq!(stage.node.links("veth"), Vec::<String>::new(), "veths left on the node");
    assert_eq!(stage.reservations(), Vec::<String>::new(), "host-local reservations left");
}
