#!/usr/bin/env bash
# The main job on an embedded default: an IPAM round trip through the built
# host-local binary, driven the way a runtime drives it (env + stdin).
# ADD two dual-stack attachments, CHECK, STATUS, GC one away, DEL the other,
# and show the store after each step. Everything happens in a temp dataDir.
set -euo pipefail
cd "$(dirname "$0")/.."
bash conformance/setup.sh
cargo build -q -p railcni-ipam
bin=target/debug
data=$(mktemp -d /tmp/railcni-demo.XXXXXX)
trap 'rm -rf "$data"' EXIT

conf=$(cat <<JSON
{
  "cniVersion": "1.1.0",
  "name": "demo-net",
  "type": "bridge",
  "ipam": {
    "type": "host-local",
    "dataDir": "$data",
    "ranges": [
      [{"subnet": "10.88.0.0/24", "rangeStart": "10.88.0.10", "rangeEnd": "10.88.0.20"}],
      [{"subnet": "fd00:88::/64"}]
    ],
    "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]
  }
}
JSON
)

cni() { # cni VERB CONTAINERID [extra JSON merged into the config]
    local conf_in="$conf"
    [ -n "${3:-}" ] && conf_in=$(python3 -c 'import json,sys; c=json.loads(sys.argv[1]); c.update(json.loads(sys.argv[2])); print(json.dumps(c))' "$conf" "$3")
    echo "\$ CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_IFNAME=eth0 host-local"
    local rc=0
    CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=/var/run/netns/$2 CNI_IFNAME=eth0 CNI_PATH=$PWD/$bin \
        "$bin/host-local" <<<"$conf_in" || rc=$?
    echo
    echo "(exit $rc)"
    return $rc
}
store() { echo "store: $(cd "$data/demo-net" && ls | tr '\n' ' ')"; }

cni ADD pod-a
cni ADD pod-b
store
cni CHECK pod-a
cni STATUS ""
cni GC "" '{"cni.dev/valid-attachments": [{"containerID": "pod-b", "ifname": "eth0"}]}'
store
cni DEL pod-b
cni DEL pod-b
store
[ -z "$(cd "$data/demo-net" && ls | grep -v -e '^lock$' -e '^last_reserved_ip')" ] && echo "demo: round trip complete, nothing left reserved"
