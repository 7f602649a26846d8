#!/usr/bin/env bash
# The main job on an embedded default: pod networking with railcni.
#
# Two pod namespaces are connected through railcni's bridge and host-local
# (dual stack), driven exactly as containerd drives plugins: through libcni
# (the railcni-cnitool driver). It prints their addresses and routes, pings
# between them, runs CHECK, deletes both attachments, and cleans up.
#
# Everything happens inside namespaces this script creates: a "node"
# namespace stands in for the host, so the machine's own interfaces are
# never touched. The config is cniVersion 1.0.0 because Debian bookworm's
# libcni (1.1.2) predates spec 1.1.0.
set -euo pipefail
cd "$(dirname "$0")/.."
bash conformance/setup.sh
cargo build -q -p railcni-ipam -p railcni-bridge
cnitool=$(bash conformance/build-driver.sh)

tag=rcdemo-$$
node=$tag-node
pods=("$tag-a" "$tag-b")
work=$(mktemp -d /tmp/railcni-demo.XXXXXX)
cleanup() {
    for ns in "${pods[@]}" "$node"; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/net.d"
cat >"$work/net.d/10-demo.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "demo-net",
  "plugins": [{
    "type": "bridge",
    "bridge": "rcdemo0",
    "isGateway": true,
    "isDefaultGateway": true,
    "ipam": {
      "type": "host-local",
      "dataDir": "$work/ipam",
      "ranges": [[{"subnet": "10.88.0.0/24"}], [{"subnet": "fd00:88::/64"}]]
    }
  }]
}
JSON

say() { printf '\n== %s\n' "$*"; }
cni() { # cni VERB POD
    ip netns exec "$node" env NETCONFPATH="$work/net.d" CNI_PATH="$PWD/target/debug" CNI_CACHEDIR="$work/cache" \
        "$cnitool" "$1" demo-net "/run/netns/$2"
}

ip netns add "$node"
for p in "${pods[@]}"; do ip netns add "$p"; done

for p in "${pods[@]}"; do
    say "ADD $p"
    cni add "$p"
done

for p in "${pods[@]}"; do
    say "$p: addresses and routes"
    ip -n "$p" -br addr show dev eth0
    ip -n "$p" route
    ip -n "$p" -6 route show dev eth0
done
say "node: bridge"
ip -n "$node" -br addr show dev rcdemo0

b4=$(ip -n "${pods[1]}" -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
b6=$(ip -n "${pods[1]}" -6 -o addr show dev eth0 scope global | awk '{print $4}' | cut -d/ -f1)
say "ping ${pods[1]} from ${pods[0]}"
ip netns exec "${pods[0]}" ping -c 2 -W 2 "$b4"
ip netns exec "${pods[0]}" ping -6 -c 2 -W 2 "$b6"

for p in "${pods[@]}"; do
    say "CHECK $p"
    cni check "$p" && echo ok
done
for p in "${pods[@]}"; do
    say "DEL $p (twice: DEL is idempotent)"
    cni del "$p" && cni del "$p" && echo ok
done

say "left behind"
left=$(ls "$work/ipam/demo-net" | grep -v -e '^lock$' -e '^last_reserved_ip' || true)
links=$(ip -n "$node" -br link | grep -c '^veth' || true)
echo "reservations: ${left:-none}; host veths: $links"
[ -z "$left" ] && [ "$links" = 0 ]
echo "demo: done"
