//! `CNI_ARGS` and the other `CNI_*` variables as the environment parser
//! sees them: input lines are CNI_COMMAND, CNI_CONTAINERID, CNI_IFNAME,
//! CNI_NETNS, CNI_ARGS.
#![no_main]

use cni::args::CniArgs;
use cni::env::Env;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = CniArgs::parse(&text, &["IP", "MAC", "GATEWAY"]);
    let mut lines = text.split('\n');
    let vars: Vec<(&str, String)> = ["CNI_COMMAND", "CNI_CONTAINERID", "CNI_IFNAME", "CNI_NETNS", "CNI_ARGS"]
        .into_iter()
        .map(|k| (k, lines.next().unwrap_or("").to_string()))
        .collect();
    if let Ok(Some(env)) = Env::parse(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())) {
        let _ = CniArgs::parse(&env.args, &["IP"]);
    }
});
