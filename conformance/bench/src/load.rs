//! The load parts of `bench <plugin>`: bursts of concurrent pods on one
//! network, and full ADD→DEL cycles through libcni (the Go driver), so the
//! runtime's own work (result cache, config loading) is in the number.

use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};
use testkit::binary::{Binary, Invocation};
use testkit::driver::{self, Call, Dirs};
use testkit::netns::Namespace;

/// N pods attached at once, then detached at once.
#[derive(Debug, Clone, Copy)]
pub struct Burst {
    pub pods: usize,
    pub add_wall: Duration,
    pub del_wall: Duration,
    pub failures: usize,
}

impl Burst {
    pub fn adds_per_sec(&self) -> f64 {
        self.pods as f64 / self.add_wall.as_secs_f64().max(1e-9)
    }

    pub fn dels_per_sec(&self) -> f64 {
        self.pods as f64 / self.del_wall.as_secs_f64().max(1e-9)
    }
}

/// `pods` parallel ADDs (one thread each, all inside `host`) into fresh pod
/// namespaces, then `pods` parallel DELs. Namespaces are made before and
/// removed after, untimed. A failed ADD or DEL counts; it does not stop the burst.
pub fn burst(plugin: &Binary, host: &Namespace, conf: &Value, pods: usize, tag: &str) -> Result<Burst, String> {
    let netns: Vec<Namespace> =
        (0..pods).map(|i| Namespace::create(&format!("{}-{tag}-{i}", host.name()))).collect::<Result<_, _>>()?;
    let run_all = |verb: &'static str| -> (Duration, usize) {
        let start = Instant::now();
        let failed = std::thread::scope(|s| {
            let handles: Vec<_> = netns
                .iter()
                .enumerate()
                .map(|(i, pod)| {
                    s.spawn(move || {
                        if host.enter_current_thread().is_err() {
                            return false;
                        }
                        let inv = Invocation::attachment_verb(verb)
                            .attachment(&format!("{tag}-{i}"), "eth0")
                            .set("CNI_NETNS", &pod.path_str())
                            .stdin_json(conf);
                        plugin.call(&inv).success()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(false)).filter(|ok| !ok).count()
        });
        (start.elapsed(), failed)
    };
    let (add_wall, add_failed) = run_all("ADD");
    let (del_wall, del_failed) = run_all("DEL");
    Ok(Burst { pods, add_wall, del_wall, failures: add_failed + del_failed })
}

/// `reps` ADD→DEL cycles through libcni for the network `conf` (a plugin
/// config as a runtime would send it), in fresh pods: the wall time of each
/// cycle, driver start-up included (the same for both implementations).
pub fn libcni_cycles(
    dir: &Path,
    host: &Namespace,
    conf: &Value,
    reps: usize,
    tmp: &Path,
) -> Result<Vec<Duration>, String> {
    let net = conf["name"].as_str().unwrap_or("bench").to_string();
    let mut plugin = conf.clone();
    if let Some(o) = plugin.as_object_mut() {
        o.remove("cniVersion");
        o.remove("name");
    }
    let dirs = Dirs { conf_dir: tmp.join("net.d"), cni_path: dir.display().to_string(), cache_dir: tmp.join("cache") };
    std::fs::create_dir_all(&dirs.conf_dir).map_err(|e| e.to_string())?;
    let list = json!({ "cniVersion": conf["cniVersion"], "name": net, "plugins": [plugin] });
    std::fs::write(dirs.conf_dir.join(format!("{net}.conflist")), list.to_string()).map_err(|e| e.to_string())?;
    let mut cycles = Vec::new();
    for i in 0..reps {
        let pod = Namespace::create(&format!("{}-lc{i}", host.name()))?;
        let cid = format!("libcni-{i}");
        let call = |verb| Call::new(verb, &net, &pod.path_str()).container_id(&cid);
        let add = driver::run(host, &dirs, &call("add"));
        let del = driver::run(host, &dirs, &call("del"));
        if !add.success() || !del.success() {
            return Err(format!("libcni cycle {i}: {}\n{}", add.describe(), del.describe()));
        }
        cycles.push(add.wall + del.wall);
    }
    Ok(cycles)
}
