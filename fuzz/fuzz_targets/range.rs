//! The host-local range parser: a JSON list of range sets, each canonicalized,
//! then checked for overlap and membership as the allocator does.
#![no_main]

use ipam::range::{RangeConf, canonicalize_set, describe, set_contains, sets_overlap};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(sets) = serde_json::from_slice::<Vec<Vec<RangeConf>>>(data) else {
        return;
    };
    let parsed: Vec<_> = sets.iter().filter_map(|s| canonicalize_set(s, "ranges").ok()).collect();
    for a in &parsed {
        let _ = describe(a);
        for b in &parsed {
            let _ = sets_overlap(a, b);
        }
        for r in a {
            assert!(set_contains(a, r.start), "a range set does not contain its own start");
        }
    }
});
