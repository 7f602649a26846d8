//! Results and `prevResult` in every version: parse, then convert to every
//! version and parse that again. Nothing may panic, and a result that
//! parsed must survive its own conversion to the version it came in.
#![no_main]

use cni::CniResult;
use cni::version::SUPPORTED;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    for from in SUPPORTED {
        let Ok(parsed) = CniResult::parse(value.clone(), from, "prevResult") else {
            continue;
        };
        for to in SUPPORTED {
            let json = parsed.to_json(to);
            let again = CniResult::parse(json, to, "prevResult");
            if to == from {
                assert!(again.is_ok(), "a {from} result does not parse after conversion to {to}");
            }
        }
    }
});
