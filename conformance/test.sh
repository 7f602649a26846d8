#!/usr/bin/env bash
# Run every railcni check: format, lints, the quick benchmark regression
# check, unit tests, and the black-box conformance suite against the built
# binaries (and Debian's reference plugins). The test runner's summary is
# the last thing printed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash conformance/setup.sh

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --release -p railcni-ipam
cargo run --release -q -p railcni-conformance --bin bench -- ipam-scaling --quick
# The conformance tests exec target/debug binaries (and the libcni driver): build them first.
cargo build --workspace
bash conformance/build-driver.sh >/dev/null
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace 2>&1 | tee "$log"
# Bounded fuzzing of every parser (fuzz/README figures come from longer runs).
bash fuzz/run.sh 30
# The VM stage: what this kernel lacks (bridge VLAN filtering, 802.1q, ipvlan,
# SR-IOV) in one QEMU VM booting Debian's 6.12 kernel, which also reruns the
# bridge and macvlan scenarios on that kernel; see conformance/vm/README.md.
bash conformance/vm/prepare.sh
bash conformance/vm/run.sh conformance/vm/tests.sh -- +bridge +macvlan vlan faults:vlan_ 2>&1 | tee -a "$log"
# One closing line for the whole run; cargo's own last line is a doctest
# summary that says "0 passed".
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "railcni: %d passed, %d failed, %d skipped\n", p, f, i }' "$log"
