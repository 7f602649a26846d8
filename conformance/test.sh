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
# The conformance tests exec target/debug binaries: build them first.
cargo build --workspace
cargo test --workspace
