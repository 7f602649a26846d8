#!/usr/bin/env bash
# A bounded fuzz run of every target: `bash fuzz/run.sh [seconds per target]`
# (default 30). The committed corpus in fuzz/corpus/<target> seeds each run
# and is not modified: new inputs go to a temporary directory. Prints one
# line per target (executions, crashes) and fails if any target crashed;
# a crashing input is kept in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-30}
cargo +nightly fuzz build >&2
total=0
failed=0
for t in $(cargo +nightly fuzz list); do
    new=$(mktemp -d)
    mkdir -p "artifacts/$t"
    log=$(mktemp)
    status=0
    cargo +nightly fuzz run "$t" "$new" "corpus/$t" -- -max_total_time="$secs" -max_len=16384 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"$log" 2>&1 || status=$?
    execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log")
    if [ "$status" -ne 0 ]; then
        failed=1
        grep -E "panicked|ERROR|SUMMARY|crash-|Test unit written" "$log" >&2 || tail -20 "$log" >&2
    fi
    echo "fuzz $t: ${execs:-0} executions in ${secs}s, $([ "$status" -eq 0 ] && echo 0 || echo 1) crashes"
    total=$((total + ${execs:-0}))
    rm -rf "$new" "$log"
done
echo "fuzz: $total executions in total"
exit "$failed"
