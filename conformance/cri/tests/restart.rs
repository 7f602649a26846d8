//! containerd restart: SIGKILLed with pods running and started again on
//! the same state, containerd recovers its sandboxes; they keep their
//! addresses and networking, and Stop + Remove (the DEL now made by the
//! new process, from libcni's cache) still clean up everything. Needs
//! root, containerd and runc (conformance/setup.sh).

use cri::{Plugins, Stage, conflists};

#[test]
fn pods_survive_a_sigkilled_containerd_and_are_still_cleaned_up() {
    let bridge = format!("rcr{}", std::process::id() % 1_000_000);
    let mut stage = Stage::start(Plugins::Railcni, |data_dir| {
        conflists::bridge("railcni-cri-restart", &bridge, "10.123.9.0/24", data_dir)
    });
    let before: Vec<_> = (0..3).map(|i| stage.run_pod(&format!("restart-{i}"))).collect();
    for pod in &before {
        stage.assert_up(pod);
    }

    stage.kill_containerd();
    assert!(!stage.containerd.shim_family().is_empty(), "the shims went down with containerd");
    for pod in &before {
        stage.assert_up(pod);
    }
    stage.restart_containerd();

    for pod in &before {
        let now = stage.pod(&pod.id);
        assert_eq!((&now.ip, &now.netns), (&pod.ip, &pod.netns), "pod {} changed after the restart", pod.id);
        stage.assert_up(&now);
    }
    // host-local's state went through the restart with the pods: a new
    // pod gets an address none of them holds.
    let new = stage.run_pod("restart-new");
    assert!(before.iter().all(|p| p.ip != new.ip), "{} handed out twice after the restart", new.ip);
    stage.assert_up(&new);

    for pod in before.iter().chain([&new]) {
        stage.remove_and_assert_gone(pod);
    }
    assert_eq!(stage.node.links("veth"), Vec::<String>::new(), "veths left on the node");
    assert_eq!(stage.reservations(), Vec::<String>::new(), "host-local reservations left");
}
