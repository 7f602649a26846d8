//! A tiny seeded PRNG (splitmix64), so randomized tests print a seed that
//! reproduces them (`CONFORMANCE_SEED=<n>`), without pulling in a crate.

use std::time::{SystemTime, UNIX_EPOCH};

pub const SEED_ENV: &str = "CONFORMANCE_SEED";

#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// Seed from `$CONFORMANCE_SEED`, else from the clock.
    pub fn from_env() -> (Rng, u64) {
        let seed = std::env::var(SEED_ENV).ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0x5eed)
        });
        (Rng(seed), seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }
}
