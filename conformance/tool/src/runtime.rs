//! Checks through real runtime libraries (the Go driver): libcni as
//! cnitool and Multus use it, and containerd's go-cni with what kubelet and
//! containerd send.

use crate::attach::nothing_added;
use crate::{Check, Checked, Target, Why, ensure, fail, prefix, skip};
use serde_json::{Value, json};
use testkit::driver::{Call, Lib};
use testkit::footprint::Footprint;
use testkit::lab::Lab;

pub fn checks() -> Vec<Check> {
    vec![
        Check { id: "libcni.add-check-del", spec: "SPEC §3 (runtime cache, prevResult)", run: libcni_cycle },
        Check { id: "libcni.chain-after-and-before", spec: "SPEC §3 Adding an attachment (prevResult)", run: chain },
        Check { id: "libcni.capability-mac", spec: "CONVENTIONS runtimeConfig mac", run: capability_mac },
        Check { id: "gocni.kubelet-args-and-capabilities", spec: "CONVENTIONS CNI_ARGS, capabilities", run: gocni },
        Check { id: "multus.delegates-net1-net3", spec: "Multus delegation (network-status)", run: multus },
        Check { id: "multus.rollback-on-failed-delegate", spec: "Multus delegation (DEL k..0)", run: multus_rollback },
    ]
}

/// Writes `plugins` as network `name`'s conflist in `version`.
fn write_net(lab: &Lab, name: &str, version: &str, plugins: Vec<Value>) {
    let list = json!({ "cniVersion": version, "name": name, "plugins": plugins });
    let path = lab.tmp().join("net.d").join(format!("{name}.conflist"));
    std::fs::write(path, list.to_string()).expect("writing a conflist");
}

fn call(lab: &Lab, verb: &'static str, net: &str, pod: usize, ifname: &str) -> Call {
    Call::new(verb, net, &lab.pod(pod).path_str()).container_id(&lab.cid(pod)).ifname(ifname)
}

/// A driver call that must succeed; its JSON output (ADD) or null.
fn drive_ok(lab: &Lab, c: &Call) -> Result<Value, Why> {
    let out = lab.drive(c);
    if !out.success() {
        return fail(format!("{} through {} failed: {}", c.verb, c.lib.flag(), out.describe()));
    }
    Ok(serde_json::from_str(&out.stdout).unwrap_or(Value::Null))
}

fn libcni_cycle(t: &Target) -> Checked {
    let v = t.runtime_version()?;
    let mut lab = t.lab()?;
    let p = t.add_pod(&mut lab);
    write_net(&lab, &lab.net, v, t.plugins(&lab, 0));
    let before = Footprint::take(t.profile, &lab, p);
    let result = drive_ok(&lab, &call(&lab, "add", &lab.net, p, "eth0"))?;
    crate::attach::verify_result(t, &lab, p, v, &result)?;
    ensure(lab.cache_entry(p, "eth0").exists(), || "libcni cached no result".into())?;
    if v != "0.3.1" {
        drive_ok(&lab, &call(&lab, "check", &lab.net, p, "eth0")).map_err(|e| prefix(e, "CHECK"))?;
    }
    drive_ok(&lab, &call(&lab, "del", &lab.net, p, "eth0"))?;
    ensure(!lab.cache_entry(p, "eth0").exists(), || "libcni's cache entry is left after DEL".into())?;
    nothing_added(t, &lab, p, &before)
}

/// `[loopback, plugin, tuning]`: the plugin runs after one plugin and
/// before another, and the final result has all three's work.
fn chain(t: &Target) -> Checked {
    if t.is_ipam() {
        return skip("an IPAM plugin is not chained after an interface plugin");
    }
    let v = t.runtime_version()?;
    let mut lab = t.lab()?;
    let p = t.add_pod(&mut lab);
    let tuning = json!({ "type": "tuning", "sysctl": { "net.ipv4.conf.eth0.arp_filter": "1" } });
    if t.is_loopback() {
        return chain_loopback(t, v, &lab, p, tuning);
    }
    let mut plugins = vec![json!({ "type": "loopback" })];
    plugins.extend(t.plugins(&lab, 0));
    plugins.push(tuning);
    write_net(&lab, &lab.net, v, plugins);
    let before = Footprint::take(t.profile, &lab, p);
    let result = drive_ok(&lab, &call(&lab, "add", &lab.net, p, "eth0"))?;
    let names: Vec<&str> =
        result["interfaces"].as_array().into_iter().flatten().filter_map(|i| i["name"].as_str()).collect();
    let checked = (|| {
        ensure(names.contains(&"lo") && names.contains(&"eth0"), || {
            format!("the chain's result lacks lo or eth0: {result}")
        })?;
        crate::attach::verify_result(t, &lab, p, v, &result)?;
        let sysctl = lab.pod(p).sysctl("net.ipv4.conf.eth0.arp_filter").unwrap_or_default();
        ensure(sysctl == "1", || format!("tuning after the plugin did not run: arp_filter={sysctl}"))?;
        drive_ok(&lab, &call(&lab, "check", &lab.net, p, "eth0")).map(drop).map_err(|e| prefix(e, "CHECK"))
    })();
    drive_ok(&lab, &call(&lab, "del", &lab.net, p, "eth0"))?;
    checked?;
    nothing_added(t, &lab, p, &before)
}

/// Loopback in the middle: `[macvlan, loopback, tuning]` (macvlan from the
/// plugins' directory, else the reference's). loopback brings lo up and
/// hands macvlan's result on, in which tuning then finds eth0.
fn chain_loopback(t: &Target, v: &str, lab: &Lab, p: usize, tuning: Value) -> Checked {
    use testkit::profile::{MASTER, MASTER_PEER, Profile};
    testkit::lab::macvlan::add_veth_master(&lab.host, MASTER, MASTER_PEER).map_err(Why::Fail)?;
    // No IPAM routes: the reference macvlan's CHECK wants a route without the gateway host-local gives it.
    let ipam =
        json!({ "type": "host-local", "dataDir": lab.ipam_dir(), "ranges": [[{ "subnet": Profile::subnet(0) }]] });
    let macvlan = json!({ "type": "macvlan", "master": MASTER, "ipam": ipam });
    write_net(lab, &lab.net, v, vec![macvlan, json!({ "type": "loopback" }), tuning]);
    let before = Footprint::take(t.profile, lab, p);
    let result = drive_ok(lab, &call(lab, "add", &lab.net, p, "eth0"))?;
    let checked = (|| {
        let eth0 = result["interfaces"].as_array().into_iter().flatten().any(|i| i["name"] == "eth0");
        let addr = result["ips"].as_array().into_iter().flatten().any(|i| i["address"].as_str().is_some());
        ensure(eth0 && addr, || format!("macvlan's eth0 and address did not pass through loopback: {result}"))?;
        let up = lab.pod(p).link("lo").is_some_and(|l| l.admin_up());
        ensure(up, || format!("lo is not up after the chain's ADD\n{}", lab.pod(p).dump()))?;
        let sysctl = lab.pod(p).sysctl("net.ipv4.conf.eth0.arp_filter").unwrap_or_default();
        ensure(sysctl == "1", || format!("tuning after loopback did not run: arp_filter={sysctl}"))?;
        drive_ok(lab, &call(lab, "check", &lab.net, p, "eth0")).map(drop).map_err(|e| prefix(e, "CHECK"))
    })();
    drive_ok(lab, &call(lab, "del", &lab.net, p, "eth0"))?;
    checked?;
    nothing_added(t, lab, p, &before)
}

fn capability_mac(t: &Target) -> Checked {
    if !t.profile.takes_mac {
        return skip(format!("{} does not take a MAC", t.profile.name));
    }
    let v = t.runtime_version()?;
    let mut lab = t.lab()?;
    let p = t.add_pod(&mut lab);
    let mut plugins = t.plugins(&lab, 0);
    if let Some(plugin) = plugins.last_mut() {
        plugin["capabilities"] = json!({ "mac": true });
    }
    write_net(&lab, &lab.net, v, plugins);
    let mac = "c2:11:22:33:44:55";
    drive_ok(&lab, &call(&lab, "add", &lab.net, p, "eth0").cap_args(json!({ "mac": mac })))?;
    let got = lab.pod(p).link("eth0").map(|l| l.mac()).unwrap_or_default();
    drive_ok(&lab, &call(&lab, "del", &lab.net, p, "eth0"))?;
    ensure(got == mac, || format!("runtimeConfig.mac {mac} was not applied: eth0 has {got:?}"))
}

/// What containerd sends: kubelet's CNI_ARGS and its capability args.
fn gocni(t: &Target) -> Checked {
    let v = t.runtime_version()?;
    let mut lab = t.lab()?;
    let p = t.add_pod(&mut lab);
    let mut plugins = t.plugins(&lab, 0);
    if let Some(plugin) = plugins.last_mut() {
        plugin["capabilities"] =
            json!({ "portMappings": true, "bandwidth": true, "ips": true, "mac": t.profile.takes_mac });
    }
    write_net(&lab, &lab.net, v, plugins);
    let ip = testkit::profile::Profile::subnet(0).replace(".0/24", ".77/24");
    let caps = json!({
        "portMappings": [{ "hostPort": 8080, "containerPort": 80, "protocol": "tcp" }],
        "bandwidth": { "ingressRate": 1000000, "ingressBurst": 10000, "egressRate": 1000000, "egressBurst": 10000 },
        "ips": [ip],
        "mac": "c2:11:22:33:44:66",
    });
    let args = format!(
        "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=p{p};K8S_POD_INFRA_CONTAINER_ID={};K8S_POD_UID=0f0e",
        lab.cid(p)
    );
    let with = |verb| call(&lab, verb, &lab.net, p, "eth0").lib(Lib::Gocni).cni_args(&args).cap_args(caps.clone());
    let before = Footprint::take(t.profile, &lab, p);
    let out = drive_ok(&lab, &with("add"))?;
    let got_ip = out["Raw"][0]["ips"][0]["address"].as_str().unwrap_or_default().to_string();
    let check = drive_ok(&lab, &with("check"));
    drive_ok(&lab, &with("del"))?;
    check.map_err(|e| prefix(e, "CHECK"))?;
    // static's address is the configured one, a chained plugin's the
    // prelude's, loopback's lo's; cluster-ipam does not take the `ips`
    // capability (its addresses come from the node's slices, as whereabouts' do).
    if t.profile.name != "static" && !t.is_chained() && !t.is_loopback() && !testkit::cluster_ipam::is(t.profile) {
        ensure(got_ip == ip, || format!("runtimeConfig.ips asked for {ip}, the pod got {got_ip:?}"))?;
    }
    nothing_added(t, &lab, p, &before)
}

/// The pod's lo is the runtime's, set up before Multus runs: it is never one of the pod's netN.
const LOOPBACK_NOT_A_DELEGATE: &str =
    "Multus delegates the pod's netN interfaces; lo is the runtime's own network (containerd runs loopback)";

/// Three networks of this type for one pod, as Multus delegates them
/// (`net1`..`net3`, one libcni call each), reported the way Multus
/// reports them in `k8s.v1.cni.cncf.io/network-status`.
fn multus(t: &Target) -> Checked {
    if t.is_ipam() {
        return skip("Multus delegates to interface plugins");
    }
    if t.is_loopback() {
        return skip(LOOPBACK_NOT_A_DELEGATE);
    }
    let (lab, p, nets) = delegates(t, None)?;
    let before = Footprint::take(t.profile, &lab, p);
    let mut status = Vec::new();
    let mut added = Vec::new();
    let mut failure = None;
    for (k, net) in nets.iter().enumerate() {
        let ifname = format!("net{}", k + 1);
        match drive_ok(&lab, &call(&lab, "add", net, p, &ifname)) {
            Ok(r) => {
                added.push((net.clone(), ifname.clone()));
                status.push(network_status(net, &ifname, &lab.pod(p).path_str(), &r));
            }
            Err(e) => {
                failure = Some(prefix(e, &ifname));
                break;
            }
        }
    }
    let verified = failure.map_or_else(|| verify_status(&lab, p, &status), Err);
    for (net, ifname) in added.iter().rev() {
        drive_ok(&lab, &call(&lab, "del", net, p, ifname))?;
    }
    verified?;
    nothing_added(t, &lab, p, &before)
}

/// A lab with one pod and three networks of this type, `<net>-1`..`<net>-3`,
/// as a Multus pod's delegates; the one at index `broken` gets an invalid value.
fn delegates(t: &Target, broken: Option<usize>) -> Result<(Lab, usize, Vec<String>), Why> {
    let v = t.runtime_version()?;
    let mut lab = t.lab()?;
    let p = t.add_pod(&mut lab);
    let nets: Vec<String> = (1..=3).map(|k| format!("{}-{k}", lab.net)).collect();
    for (k, net) in nets.iter().enumerate() {
        let mut plugins = t.plugins(&lab, k + 1);
        if broken == Some(k)
            && let Some(plugin) = plugins.last_mut()
        {
            crate::protocol::merge(plugin, &(t.profile.invalid.1)());
        }
        write_net(&lab, net, v, plugins);
    }
    Ok((lab, p, nets))
}

/// One entry of Multus's network-status annotation, from a delegate's result.
fn network_status(net: &str, ifname: &str, sandbox: &str, r: &Value) -> Value {
    let iface = r["interfaces"].as_array().into_iter().flatten().find(|i| i["sandbox"] == sandbox).cloned();
    let ips: Vec<String> = r["ips"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["address"].as_str().and_then(|a| a.split('/').next()).map(String::from))
        .collect();
    json!({
        "name": net,
        "interface": iface.as_ref().and_then(|i| i["name"].as_str()).unwrap_or(ifname),
        "ips": ips,
        "mac": iface.as_ref().and_then(|i| i["mac"].as_str()).unwrap_or(""),
        "dns": r.get("dns").cloned().unwrap_or(json!({})),
    })
}

/// Every network-status entry names a pod link with that MAC and addresses.
fn verify_status(lab: &Lab, p: usize, status: &[Value]) -> Checked {
    for s in status {
        let ifname = s["interface"].as_str().unwrap_or("");
        let Some(link) = lab.pod(p).link(ifname) else {
            return fail(format!("network-status names {ifname}, which is not in the pod: {s}"));
        };
        let mac = s["mac"].as_str().unwrap_or("");
        ensure(mac.is_empty() || mac.eq_ignore_ascii_case(&link.mac()), || format!("{s}: kernel MAC {}", link.mac()))?;
        let addrs = lab.pod(p).global_addrs(ifname);
        for ip in s["ips"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            ensure(addrs.iter().any(|a| a.starts_with(&format!("{ip}/"))), || {
                format!("{ip} not on {ifname}: {addrs:?}")
            })?;
        }
    }
    ensure(status.len() == 3, || format!("expected 3 network-status entries: {status:?}"))
}

/// Delegate 3 fails (an invalid config): Multus then DELs delegates 3..1,
/// and nothing may be left.
fn multus_rollback(t: &Target) -> Checked {
    if t.is_ipam() {
        return skip("Multus delegates to interface plugins");
    }
    if t.is_loopback() {
        return skip(LOOPBACK_NOT_A_DELEGATE);
    }
    let (lab, p, nets) = delegates(t, Some(2))?;
    let before = Footprint::take(t.profile, &lab, p);
    for (k, net) in nets.iter().enumerate().take(2) {
        drive_ok(&lab, &call(&lab, "add", net, p, &format!("net{}", k + 1)))?;
    }
    let third = lab.drive(&call(&lab, "add", &nets[2], p, "net3"));
    for (k, net) in nets.iter().enumerate().rev() {
        drive_ok(&lab, &call(&lab, "del", net, p, &format!("net{}", k + 1))).map_err(|e| prefix(e, "rollback DEL"))?;
    }
    ensure(!third.success(), || "the invalid third delegate was accepted".into())?;
    nothing_added(t, &lab, p, &before)
}
