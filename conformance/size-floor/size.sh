#!/usr/bin/env bash
# Prints the stripped static (x86_64 musl) size of the rtnetlink floor program
# next to railcni's plugins and Debian's reference plugins. Run after
# `bash deploy/build-static.sh`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target=x86_64-unknown-linux-musl
cargo build --quiet --release --locked --manifest-path "$here/Cargo.toml" --target "$target" \
    --target-dir "$repo/target/size-floor"
floor="$repo/target/size-floor/$target/release/size-floor"
# It exits with lo's index: 1 proves the netlink code ran.
rc=0
"$floor" || rc=$?
[[ $rc == 1 ]] || { echo "size-floor: looking up lo failed (exit $rc)"; exit 1; }
printf '%-28s %10s\n' binary bytes
printf '%-28s %10d\n' "rtnetlink floor" "$(stat -c %s "$floor")"
for p in "$repo/target/static/$target/bin/"*; do
    printf '%-28s %10d\n' "railcni $(basename "$p")" "$(stat -c %s "$p")"
done
for p in bridge macvlan ipvlan vlan sbr host-local static; do
    [[ -e /usr/lib/cni/$p ]] && printf '%-28s %10d\n' "reference $p" "$(stat -c %s "/usr/lib/cni/$p")"
done
