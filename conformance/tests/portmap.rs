//! The portmap plugin end to end, chained after railcni's bridge as
//! containerd's default conflist chains it, driven by the Go runtime driver
//! (libcni, which turns the `portMappings` capability into
//! `runtimeConfig`). A lab namespace plays the node (the plugins run in it),
//! a second namespace plays a client on the node's uplink; a server in the
//! pod answers on TCP and UDP over IPv4 and IPv6. Needs root (SKIPPED
//! otherwise), `ip` and `nft` (to read the rules back).

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use testkit::binary::our_cni_path;
use testkit::lab::Lab;
use testkit::netns::{Namespace, skip_without_root};
use testkit::{Binary, Invocation};

const V: &str = "1.0.0";
const NODE4: &str = "192.168.77.1";
const NODE6: &str = "fd77::1";
const TCP_PORT: u16 = 18080;
const UDP_PORT: u16 = 18081;
const TCP_CONTAINER: u16 = 80;
const UDP_CONTAINER: u16 = 81;

/// A node with a bridge network (bridge + portmap) and a client on its uplink.
struct Node {
    lab: Lab,
    client: Namespace,
}

fn node(mappings_extra: Value) -> Option<Node> {
    if skip_without_root("the portmap tests") {
        return None;
    }
    let lab = Lab::new(&our_cni_path(&["bridge", "portmap", "host-local"]));
    let client = Namespace::create(&format!("{}-cli", lab.prefix)).unwrap_or_else(|e| panic!("{e}"));
    let (up, peer) = (format!("{}u", lab.prefix), format!("{}c", lab.prefix));
    let ok = |r: Result<String, String>| r.unwrap_or_else(|e| panic!("{e}"));
    ok(lab.host.ip(&["link", "add", &up, "type", "veth", "peer", "name", &peer, "netns", client.name()]));
    ok(lab.host.ip(&["addr", "add", &format!("{NODE4}/24"), "dev", &up]));
    ok(lab.host.ip(&["addr", "add", &format!("{NODE6}/64"), "dev", &up, "nodad"]));
    ok(lab.host.ip(&["link", "set", &up, "up"]));
    ok(client.ip(&["addr", "add", "192.168.77.2/24", "dev", &peer]));
    ok(client.ip(&["addr", "add", "fd77::2/64", "dev", &peer, "nodad"]));
    ok(client.ip(&["link", "set", &peer, "up"]));
    // The client reaches the pods' subnet through the node (for the hostIP test).
    ok(client.ip(&["route", "add", "10.77.0.0/24", "via", NODE4]));
    lab.host.run(|| {
        for key in ["net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"] {
            std::fs::write(format!("/proc/sys/{key}"), "1").expect(key);
        }
    });
    let ipam = lab.host_local(json!([[{ "subnet": "10.77.0.0/24" }], [{ "subnet": "fd10:77::/64" }]]));
    let mut portmap = json!({ "type": "portmap", "capabilities": { "portMappings": true } });
    if let (Some(p), Some(e)) = (portmap.as_object_mut(), mappings_extra.as_object()) {
        p.extend(e.clone());
    }
    // hairpinMode: with br_netfilter loaded, a pod's connection to its own
    // host port is DNATed while still bridged and must go back out its port.
    let list = lab
        .conflist(V, vec![lab.bridge_plugin(json!({ "isDefaultGateway": true, "hairpinMode": true }), ipam), portmap]);
    lab.write_conflist(&list);
    Some(Node { lab, client })
}

fn mappings(host_ip: Option<&str>) -> Value {
    let mut m = json!([
        { "hostPort": TCP_PORT, "containerPort": TCP_CONTAINER, "protocol": "tcp" },
        { "hostPort": UDP_PORT, "containerPort": UDP_CONTAINER, "protocol": "udp" },
    ]);
    if let Some(h) = host_ip {
        for e in m.as_array_mut().into_iter().flatten() {
            e["hostIP"] = json!(h);
        }
    }
    json!({ "portMappings": m })
}

impl Node {
    fn add(&self, p: usize, caps: &Value) -> Value {
        let out = self.lab.drive(&self.lab.call("add", p).cap_args(caps.clone()));
        out.assert_result(testkit::driver::Lib::Libcni)
    }

    fn verb(&self, verb: &'static str, p: usize, caps: &Value) {
        self.lab.drive(&self.lab.call(verb, p).cap_args(caps.clone())).assert_ok();
    }

    /// The rules of table `inet cni_hostport` as `nft` prints them.
    fn ruleset(&self) -> String {
        let out = self.lab.host.exec(&["nft", "list", "table", "inet", "cni_hostport"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// How many rules name pod `p`'s container ID.
    fn rules_of(&self, p: usize) -> usize {
        let id = format!("id: {}\"", self.lab.cid(p));
        self.ruleset().lines().filter(|l| l.contains(&id)).count()
    }

    /// Runs portmap directly (no runtime) in the node.
    fn exec(&self, inv: Invocation, stdin: &Value) -> testkit::Outcome {
        self.lab.exec_plugin(&Binary::ours("portmap"), &inv.stdin_json(stdin))
    }

    fn plugin_conf(&self, version: &str, keys: Value) -> Value {
        let mut p = json!({ "type": "portmap" });
        if let (Some(o), Some(k)) = (p.as_object_mut(), keys.as_object()) {
            o.extend(k.clone());
        }
        self.lab.plugin_conf(version, p)
    }
}

/// The pod's address of each family in an ADD result.
fn pod_ips(result: &Value) -> (IpAddr, IpAddr) {
    let ips: Vec<IpAddr> = result["ips"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["address"].as_str()?.split('/').next()?.parse().ok())
        .collect();
    let v4 = *ips.iter().find(|i| i.is_ipv4()).expect("an IPv4 address");
    let v6 = *ips.iter().find(|i| i.is_ipv6()).expect("an IPv6 address");
    (v4, v6)
}

/// Echo servers in the pod on the container ports, answering `pod <what>`.
struct Server {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Server {
    fn start(pod: &Namespace, addrs: &[IpAddr]) -> Server {
        let (tcp, udp): (Vec<TcpListener>, Vec<UdpSocket>) = pod.run(|| {
            let tcp = addrs.iter().map(|a| TcpListener::bind((*a, TCP_CONTAINER)).expect("tcp bind")).collect();
            let udp = addrs.iter().map(|a| UdpSocket::bind((*a, UDP_CONTAINER)).expect("udp bind")).collect();
            (tcp, udp)
        });
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for l in tcp {
            let stop = stop.clone();
            l.set_nonblocking(true).expect("nonblocking");
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match l.accept() {
                        Ok((mut s, _)) => {
                            let _ = s.set_nonblocking(false);
                            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                            let mut buf = [0u8; 64];
                            let n = s.read(&mut buf).unwrap_or(0);
                            let _ = s.write_all(&[b"pod ", &buf[..n]].concat());
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            }));
        }
        for u in udp {
            let stop = stop.clone();
            u.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
            threads.push(std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((n, from)) = u.recv_from(&mut buf) {
                        let _ = u.send_to(&[b"pod ", &buf[..n]].concat(), from);
                    }
                }
            }));
        }
        Server { stop, threads }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// One TCP request from `ns` to `to`: the answer, or why there was none.
fn tcp(ns: &Namespace, to: SocketAddr, wait: Duration) -> Result<String, String> {
    ns.run(|| {
        let mut s = TcpStream::connect_timeout(&to, wait).map_err(|e| format!("connect {to}: {e}"))?;
        s.set_read_timeout(Some(wait)).map_err(|e| e.to_string())?;
        s.write_all(b"tcp").map_err(|e| format!("write {to}: {e}"))?;
        let mut out = String::new();
        s.read_to_string(&mut out).map_err(|e| format!("read {to}: {e}"))?;
        Ok(out)
    })
}

/// One UDP request from `ns` to `to`.
fn udp(ns: &Namespace, to: SocketAddr, wait: Duration) -> Result<String, String> {
    ns.run(|| {
        let any: SocketAddr = if to.is_ipv4() { "0.0.0.0:0".parse().unwrap() } else { "[::]:0".parse().unwrap() };
        let s = UdpSocket::bind(any).map_err(|e| e.to_string())?;
        s.connect(to).map_err(|e| format!("connect {to}: {e}"))?;
        s.set_read_timeout(Some(wait)).map_err(|e| e.to_string())?;
        let mut buf = [0u8; 64];
        // A few tries: the first datagram may race neighbour discovery.
        for _ in 0..3 {
            s.send(b"udp").map_err(|e| format!("send {to}: {e}"))?;
            if let Ok(n) = s.recv(&mut buf) {
                return Ok(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        Err(format!("no UDP answer from {to}"))
    })
}

const WAIT: Duration = Duration::from_secs(3);
const CLOSED_WAIT: Duration = Duration::from_millis(700);

fn sock(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}

#[track_caller]
fn assert_open(ns: &Namespace, ip: &str, what: &str) {
    assert_eq!(tcp(ns, sock(ip, TCP_PORT), WAIT).as_deref(), Ok("pod tcp"), "TCP {what} to {ip}");
    assert_eq!(udp(ns, sock(ip, UDP_PORT), WAIT).as_deref(), Ok("pod udp"), "UDP {what} to {ip}");
}

#[track_caller]
fn assert_closed(ns: &Namespace, ip: &str, what: &str) {
    let t = tcp(ns, sock(ip, TCP_PORT), CLOSED_WAIT);
    assert!(t.is_err(), "TCP {what} to {ip} still answered: {t:?}");
    let u = udp(ns, sock(ip, UDP_PORT), CLOSED_WAIT);
    assert!(u.is_err(), "UDP {what} to {ip} still answered: {u:?}");
}

#[test]
fn host_ports_reach_the_pod_over_tcp_and_udp_v4_and_v6_and_del_closes_them() {
    let Some(mut n) = node(json!({})) else { return };
    let p = n.lab.add_pod();
    let caps = mappings(None);
    let result = n.add(p, &caps);
    assert_eq!(result["interfaces"].as_array().map(Vec::len), Some(3), "bridge's result passes through: {result}");
    let (v4, v6) = pod_ips(&result);
    let server = Server::start(n.lab.pod(p), &[v4, v6]);
    // bridge's and portmap's own CHECK, through libcni.
    n.verb("check", p, &caps);
    // Per mapping: hairpin mark, (IPv4) localhost mark, DNAT; per address: masquerade.
    assert_eq!(n.rules_of(p), 2 * 3 + 2 * 2 + 2, "rules of the attachment:\n{}", n.ruleset());

    for ip in [NODE4, NODE6] {
        assert_open(&n.client, ip, "from a client");
        assert_open(&n.lab.host, ip, "from the node");
    }
    // Localhost (route_localnet and masquerade) and hairpin (the pod to its own host port).
    assert_eq!(tcp(&n.lab.host, sock("127.0.0.1", TCP_PORT), WAIT).as_deref(), Ok("pod tcp"), "localhost");
    let localnet = n.lab.host.sysctl(&format!("net.ipv4.conf.{}.route_localnet", n.lab.bridge));
    assert_eq!(localnet.as_deref(), Ok("1"), "route_localnet on the bridge");
    assert_eq!(tcp(n.lab.pod(p), sock(NODE4, TCP_PORT), WAIT).as_deref(), Ok("pod tcp"), "hairpin v4");
    assert_eq!(tcp(n.lab.pod(p), sock(NODE6, TCP_PORT), WAIT).as_deref(), Ok("pod tcp"), "hairpin v6");

    n.verb("del", p, &caps);
    for ip in [NODE4, NODE6] {
        assert_closed(&n.client, ip, "from a client after DEL");
        assert_closed(&n.lab.host, ip, "from the node after DEL");
    }
    assert_eq!(n.rules_of(p), 0, "rules left after DEL:\n{}", n.ruleset());
    // The last attachment gone, so is the table.
    assert_eq!(n.ruleset(), "", "table left after the last DEL");
    drop(server);
    n.lab.assert_released(p);
    n.verb("del", p, &caps);
}

#[test]
fn del_without_netns_or_prev_result_removes_only_its_rules() {
    let Some(mut n) = node(json!({})) else { return };
    let (a, b) = (n.lab.add_pod(), n.lab.add_pod());
    let caps = mappings(None);
    n.add(a, &caps);
    let other = json!({ "portMappings": [{ "hostPort": 18090, "containerPort": 80, "protocol": "tcp" }] });
    n.add(b, &other);
    let before = n.rules_of(b);
    assert!(before > 0 && n.rules_of(a) > 0, "{}", n.ruleset());
    // The runtime lost the netns and the cached result: DEL has only the attachment.
    let inv = Invocation::del().attachment(&n.lab.cid(a), "eth0").set("CNI_NETNS", "");
    n.exec(inv, &n.plugin_conf(V, json!({}))).assert_ok_silent();
    assert_eq!(n.rules_of(a), 0, "{}", n.ruleset());
    assert_eq!(n.rules_of(b), before, "another pod's rules were touched:\n{}", n.ruleset());
    let inv = Invocation::del().attachment(&n.lab.cid(a), "eth0").set("CNI_NETNS", "");
    n.exec(inv, &n.plugin_conf(V, json!({}))).assert_ok_silent();
    n.verb("del", a, &caps);
    n.verb("del", b, &other);
    assert_eq!(n.rules_of(b), 0, "{}", n.ruleset());
}

#[test]
fn gc_removes_the_rules_of_attachments_not_listed() {
    let Some(mut n) = node(json!({})) else { return };
    let (a, b) = (n.lab.add_pod(), n.lab.add_pod());
    let caps = mappings(None);
    n.add(a, &caps);
    n.add(b, &json!({ "portMappings": [{ "hostPort": 18090, "containerPort": 80, "protocol": "tcp" }] }));
    let kept = n.rules_of(a);
    let mut conf = n.plugin_conf("1.1.0", json!({}));
    conf["cni.dev/valid-attachments"] = json!([{ "containerID": n.lab.cid(a), "ifname": "eth0" }]);
    n.exec(Invocation::gc(), &conf).assert_ok_silent();
    assert_eq!(n.rules_of(b), 0, "GC left the unlisted attachment's rules:\n{}", n.ruleset());
    assert_eq!(n.rules_of(a), kept, "GC touched a listed attachment:\n{}", n.ruleset());
    // Without the list nothing may be collected.
    n.exec(Invocation::gc(), &n.plugin_conf("1.1.0", json!({}))).assert_ok_silent();
    assert_eq!(n.rules_of(a), kept);
    n.verb("del", a, &caps);
    n.verb("del", b, &json!({}));
}

#[test]
fn host_ip_limits_the_mapping_to_that_address() {
    let Some(mut n) = node(json!({})) else { return };
    let p = n.lab.add_pod();
    let caps = mappings(Some(NODE4));
    let result = n.add(p, &caps);
    let (v4, v6) = pod_ips(&result);
    let _server = Server::start(n.lab.pod(p), &[v4, v6]);
    assert_open(&n.client, NODE4, "to the hostIP");
    // The bridge's gateway address is the node's too, but not the mapping's hostIP.
    assert_closed(&n.client, "10.77.0.1", "to another node address");
    // An IPv4 hostIP maps nothing on IPv6.
    assert_closed(&n.client, NODE6, "over IPv6");
    n.verb("del", p, &caps);
    assert_eq!(n.rules_of(p), 0, "{}", n.ruleset());
}

#[test]
fn snat_false_installs_no_masquerade_marks() {
    let Some(mut n) = node(json!({ "snat": false })) else { return };
    let p = n.lab.add_pod();
    let caps = mappings(None);
    n.add(p, &caps);
    n.verb("check", p, &caps);
    // Only the DNAT rules: 2 mappings x 2 families.
    assert_eq!(n.rules_of(p), 4, "{}", n.ruleset());
    assert!(!n.ruleset().lines().any(|l| l.contains(&n.lab.cid(p)) && l.contains("mark")), "{}", n.ruleset());
    n.verb("del", p, &caps);
}

#[test]
fn check_fails_when_a_rule_is_missing() {
    let Some(mut n) = node(json!({})) else { return };
    let p = n.lab.add_pod();
    let caps = mappings(None);
    let result = n.add(p, &caps);
    // Remove the attachment's rules behind the plugin's back.
    let inv = Invocation::del().attachment(&n.lab.cid(p), "eth0").set("CNI_NETNS", "");
    n.exec(inv, &n.plugin_conf(V, json!({}))).assert_ok_silent();
    let mut conf = n.plugin_conf(V, json!({ "runtimeConfig": caps }));
    conf["prevResult"] = result;
    let inv = Invocation::check().attachment(&n.lab.cid(p), "eth0").set("CNI_NETNS", &n.lab.pod(p).path_str());
    n.exec(inv, &conf).check_error(103).unwrap_or_else(|e| panic!("{e}"));
    n.verb("del", p, &caps);
}

/// Bad config: code 7 naming the key, and nothing installed.
fn bad(keys: Value, key: &str) {
    let Some(mut n) = node(json!({})) else { return };
    let p = n.lab.add_pod();
    let result = n.add(p, &json!({}));
    let mut conf = n.plugin_conf(V, keys);
    conf["prevResult"] = result;
    let inv = Invocation::add().attachment(&n.lab.cid(p), "eth0").set("CNI_NETNS", &n.lab.pod(p).path_str());
    n.exec(inv, &conf).check_error_naming(7, &[key]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(n.rules_of(p), 0, "{}", n.ruleset());
    n.verb("del", p, &json!({}));
}

fn with_port(entry: Value) -> Value {
    json!({ "runtimeConfig": { "portMappings": [entry] } })
}

testkit::table_tests!(bad_case {
    mark_bit_32_is_code_7: (json!({ "markMasqBit": 32 }), "markMasqBit"),
    mark_bit_and_external_chain_is_code_7: (
        json!({ "markMasqBit": 5, "externalSetMarkChain": "KUBE-MARK-MASQ" }),
        "externalSetMarkChain"
    ),
    external_chain_is_code_7: (json!({ "externalSetMarkChain": "KUBE-MARK-MASQ" }), "externalSetMarkChain"),
    conditions_v4_is_code_7: (json!({ "conditionsV4": ["-s", "1.2.3.4"] }), "conditionsV4"),
    conditions_v6_is_code_7: (json!({ "conditionsV6": ["!", "-d", "fd00::1"] }), "conditionsV6"),
    host_port_0_is_code_7: (with_port(json!({ "hostPort": 0, "containerPort": 80, "protocol": "tcp" })), "hostPort"),
    container_port_too_big_is_code_7: (
        with_port(json!({ "hostPort": 80, "containerPort": 70000, "protocol": "tcp" })),
        "containerPort"
    ),
    unknown_protocol_is_code_7: (
        with_port(json!({ "hostPort": 80, "containerPort": 80, "protocol": "icmp" })),
        "protocol"
    ),
    bad_host_ip_is_code_7: (
        with_port(json!({ "hostPort": 80, "containerPort": 80, "protocol": "tcp", "hostIP": "nope" })),
        "hostIP"
    ),
});

fn bad_case(row: (Value, &str)) {
    bad(row.0, row.1)
}

#[test]
fn add_without_prev_result_is_code_7() {
    let Some(n) = node(json!({})) else { return };
    let inv = Invocation::add().attachment("ctr", "eth0").set("CNI_NETNS", &n.lab.host.path_str());
    let conf = n.plugin_conf(V, with_port(json!({ "hostPort": 80, "containerPort": 80, "protocol": "tcp" })));
    n.exec(inv, &conf).check_error_naming(7, &["prevResult"]).unwrap_or_else(|e| panic!("{e}"));
}

/// Pods coming and going at once on one node: every ADD finds its rules
/// and the masquerade rule in place, even while another attachment's DEL
/// removes the table it thinks is unused, and the last DEL leaves nothing.
#[test]
fn concurrent_adds_and_dels_keep_every_attachments_rules() {
    let Some(n) = node(json!({})) else { return };
    let caps = mappings(None);
    let prev = |k: usize| {
        json!({ "cniVersion": V, "interfaces": [{ "name": n.lab.bridge }, { "name": "eth0", "sandbox": format!("/run/netns/x{k}") }],
            "ips": [{ "interface": 1, "address": format!("10.77.0.{}/24", 10 + k) }] })
    };
    let failures: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..6)
            .map(|k| {
                let (n, caps, prev) = (&n, &caps, prev(k));
                s.spawn(move || {
                    let cid = format!("{}-race{k}", n.lab.prefix);
                    let mut conf = n.plugin_conf(V, json!({ "runtimeConfig": caps }));
                    conf["prevResult"] = prev;
                    let mut bad = Vec::new();
                    for round in 0..8 {
                        let inv = Invocation::add().attachment(&cid, "eth0").set("CNI_NETNS", "/run/netns/x");
                        if let Err(e) = n.exec(inv, &conf).check_ok_json() {
                            bad.push(format!("{cid} round {round} ADD: {e}"));
                            continue;
                        }
                        let ruleset = n.ruleset();
                        let mine = ruleset.lines().filter(|l| l.contains(&format!("id: {cid}\""))).count();
                        // 2 mappings x (hairpin, localhost, DNAT), and the masquerade.
                        if mine != 7 {
                            bad.push(format!("{cid} round {round}: {mine} rules after ADD:\n{ruleset}"));
                        }
                        let inv = Invocation::del().attachment(&cid, "eth0").set("CNI_NETNS", "");
                        if let Err(e) = n.exec(inv, &conf).check_ok() {
                            bad.push(format!("{cid} round {round} DEL: {e}"));
                        }
                    }
                    bad
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("worker")).collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(n.ruleset(), "", "table left after the last DEL");
}
