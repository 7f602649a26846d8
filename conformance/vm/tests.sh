#!/usr/bin/env bash
# The VM stage's payload: runs INSIDE the test VM as root (see run.sh), with
# the host's target/ at $VM_SHARE (/mnt/host).
#
#   tests.sh [[+]TARGET[:FILTER] | bench:NAME[:full]]...    default: bridge:vlan_
#
# 1. A kernel self-check: 802.1q vlan, ipvlan, macvlan, dummy, vrf, bridge
#    VLAN filtering, nftables NAT, and SR-IOV VFs on the emulated igb.
# 2. The #[ignore]d conformance tests ("VM stage") of each TARGET (a file
#    conformance/tests/TARGET.rs), i.e. `<test binary> --ignored FILTER`,
#    against the debug plugins and the Go driver, as the host's CI runs the
#    others. A leading + runs the target's other tests too
#    (--include-ignored). From the host:
#    `run.sh conformance/vm/tests.sh -- bridge:vlan_ vlan +bridge_vs_reference`.
# 3. `bench:NAME` runs `bench NAME --quick` (conformance/bench/src/on_master.rs,
#    sriov.rs) on the static plugins instead, `bench:NAME:full` the whole
#    bench; its JSON goes to target/vm/bench-NAME[-full].json.
#
# Exit status 0 only if every check and every test passed.
set -euo pipefail

share="${VM_SHARE:?VM_SHARE is not set: tests.sh runs inside the VM (conformance/vm/run.sh)}"
stage="${VM_STAGE:-/opt}"
(($#)) || set -- bridge:vlan_

failed=()
section() { printf '\n==== %s ====\n' "$*"; }

# ---- 1. kernel self-check ---------------------------------------------------

# check NAME CMD...: runs CMD, prints ok/FAIL with its output on failure.
check() {
    local name="$1" out
    shift
    if out="$("$@" 2>&1)"; then
        printf 'ok    %s\n' "$name"
    else
        printf 'FAIL  %s: %s\n' "$name" "$*"
        [[ -z $out ]] || printf '%s\n' "$out" | sed 's/^/      /'
        failed+=("self-check: $name")
    fi
}

# The checks that need a namespace use a scratch one, deleted afterwards.
ns=selfcheck
in_ns() { ip netns exec "$ns" "$@"; }
# Read back through sysfs (ip netns exec mounts the namespace's own /sys).
bridge_filtering_on() { [[ "$(in_ns cat /sys/class/net/br0/bridge/vlan_filtering)" == 1 ]]; }
vlan_on_port() { bridge -n "$ns" vlan show dev vp0 | grep -E '\b100\b.*PVID' >/dev/null; }
nft_masquerade() {
    in_ns nft -f - <<'EOF'
table inet vmcheck {
    chain post { type nat hook postrouting priority srcnat; masquerade; }
}
table bridge vmcheck {
    chain spoof { type filter hook forward priority filter; ether saddr 02:00:00:00:00:01 drop; }
}
EOF
}

# wait_for SECS CMD...: polls CMD every 0.2 s.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

igb_pf() {
    local n
    for n in /sys/class/net/*; do
        [[ "$(basename "$(readlink "$n/device/driver" 2>/dev/null)")" == igb ]] && { basename "$n"; return 0; }
    done
    return 1
}
vf_netdevs() { ls "/sys/class/net/$1/device/virtfn$2/net/" 2>/dev/null | head -n 1; }
have_vf_netdev() { [[ -n "$(vf_netdevs "$1" "$2")" ]]; }
sriov() {
    local pf vf0 vf1
    pf="$(igb_pf)" || { echo "no netdev bound to igb"; return 1; }
    echo "PF $pf, sriov_totalvfs $(cat "/sys/class/net/$pf/device/sriov_totalvfs")"
    echo 2 >"/sys/class/net/$pf/device/sriov_numvfs" || return 1
    # igbvf binds (loaded on the uevent) and registers the netdevs asynchronously.
    wait_for 20 have_vf_netdev "$pf" 1 || { echo "VF netdevs did not appear"; return 1; }
    vf0="$(vf_netdevs "$pf" 0)" vf1="$(vf_netdevs "$pf" 1)"
    echo "VFs: $vf0 ($(basename "$(readlink "/sys/class/net/$pf/device/virtfn0")")), $vf1"
    ip link set "$pf" vf 0 mac 02:00:00:00:10:00 vlan 100 || return 1
    ip link show "$pf" | grep 'vf 0 .*02:00:00:00:10:00.*vlan 100' >/dev/null || { ip link show "$pf"; return 1; }
    echo 0 >"/sys/class/net/$pf/device/sriov_numvfs" || return 1
}

section "kernel self-check ($(uname -r))"
ip netns add "$ns"
check "dummy" ip -n "$ns" link add d0 type dummy
check "802.1q vlan" ip -n "$ns" link add link d0 name d0.100 type vlan id 100
check "802.1ad QinQ" ip -n "$ns" link add link d0 name d0.200 type vlan proto 802.1ad id 200
check "ipvlan l2" ip -n "$ns" link add link d0 name ipvl0 type ipvlan mode l2
check "dummy (second parent)" ip -n "$ns" link add d1 type dummy
check "macvlan bridge" ip -n "$ns" link add link d1 name mv0 type macvlan mode bridge
check "vrf" ip -n "$ns" link add vrf0 type vrf table 10
check "bridge vlan_filtering 1" ip -n "$ns" link add br0 type bridge vlan_filtering 1
check "vlan_filtering reads 1" bridge_filtering_on
check "veth into bridge" ip -n "$ns" link add vp0 master br0 type veth peer name vp1
check "bridge vlan add pvid" bridge -n "$ns" vlan add dev vp0 vid 100 pvid untagged
check "bridge vlan show" vlan_on_port
check "nftables nat + bridge family" nft_masquerade
ip netns del "$ns"
check "SR-IOV: 2 VFs on igb, vf mac/vlan" sriov
# run.sh gives the VM a second igb NIC: 8 rails of VFs need two PFs (7 VFs each).
two_igb_pfs() { [[ $(for n in /sys/class/net/*; do readlink "$n/device/driver"; done 2>/dev/null | grep -c '/igb$') -ge 2 ]]; }
check "SR-IOV: a second igb PF" two_igb_pfs

# ---- 2. the VM-stage conformance tests --------------------------------------

# The binaries run from tmpfs: a host rebuild during the run cannot change
# them, and exec from tmpfs is the fastest (from 9p it can take ~1 s).
# The debug builds of every railcni plugin that exists (add new ones here).
section "staging binaries from the share"
mkdir -p "$stage/bin"
t=$SECONDS
for p in bridge host-local static vlan macvlan ipvlan sriov; do
    if [[ -x $share/debug/$p ]]; then cp "$share/debug/$p" "$stage/bin/"; fi
done
[[ -x $share/railcni-cnitool ]] || { echo "tests.sh: $share/railcni-cnitool is missing: run conformance/build-driver.sh on the host"; exit 1; }
cp "$share/railcni-cnitool" "$stage/"
echo "plugins: $(ls "$stage/bin" | tr '\n' ' ')($((SECONDS - t)) s)"
export RAILCNI_BIN_DIR="$stage/bin" RAILCNI_CNITOOL="$stage/railcni-cnitool" RUST_BACKTRACE=1

# test_binary NAME: the newest executable cargo built for conformance/tests/NAME.rs
# or conformance/tests/NAME/main.rs (target/debug/deps/NAME-<hash>; its .d file
# names the source. Plugins and clippy runs leave other NAME-<hash> files there).
test_binary() {
    local f best="" best_t=0 t
    for f in "$share/debug/deps/$1"-*; do
        [[ $f == *.* || ! -x $f ]] && continue
        grep -Eq "conformance/tests/$1(\.rs|/main\.rs)" "$f.d" 2>/dev/null || continue
        t="$(stat -c %Y "$f")"
        ((t > best_t)) && best="$f" best_t="$t"
    done
    [[ -n $best ]] && echo "$best"
}

# run_bench NAME [full]: `bench NAME --quick` (or, with `full`, the whole
# bench) on the static release plugins (as the image ships them) against the
# reference in /usr/lib/cni, for the plugins the host kernel cannot run. Its
# ratios gate like the host's `bench --quick`.
run_bench() {
    local static="$share/static/x86_64-unknown-linux-musl/bin"
    [[ -x $share/release/bench && -x $static/$1 ]] || {
        echo "tests.sh: no $share/release/bench or $static/$1: run deploy/build-static.sh and cargo build --release -p railcni-bench --bin bench"
        return 1
    }
    mkdir -p "$stage/static"
    cp "$static/$1" "$static/host-local" "$stage/static/"
    cp "$share/release/bench" "$stage/bench"
    local mode=--quick
    [[ ${2:-} == full ]] && mode=""
    RAILCNI_BIN_DIR="$stage/static" "$stage/bench" "$1" $mode --json "$share/vm/bench-$1${2:+-$2}.json"
}

for spec in "$@"; do
    if [[ $spec == bench:* ]]; then
        IFS=: read -r _ name mode <<<"$spec"
        section "bench $name ${mode:---quick}"
        t=$SECONDS
        run_bench "$name" $mode || failed+=("$spec")
        echo "($((SECONDS - t)) s)"
        continue
    fi
    which=--ignored
    [[ $spec == +* ]] && which=--include-ignored spec="${spec#+}"
    name="${spec%%:*}" filter=""
    [[ $spec == *:* ]] && filter="${spec#*:}"
    section "conformance/tests/$name.rs $which $filter"
    if ! bin="$(test_binary "$name")"; then
        echo "tests.sh: no test binary for conformance/tests/$name.rs in $share/debug/deps: run cargo build --workspace --tests"
        failed+=("$name: not built")
        continue
    fi
    cp "$bin" "$stage/$name-test"
    echo "binary: ${bin#"$share"/}"
    t=$SECONDS
    # One test at a time: the VM has one CPU.
    if "$stage/$name-test" "$which" --test-threads=1 ${filter:+"$filter"}; then :; else
        failed+=("$name $which $filter")
    fi
    # /opt is a tmpfs of half the VM's RAM, already holding the plugins:
    # one test binary at a time fits, all of them do not.
    rm -f "$stage/$name-test"
    echo "($((SECONDS - t)) s)"
done

section "summary"
if ((${#failed[@]})); then
    printf 'FAILED: %s\n' "${failed[@]}"
    exit 1
fi
echo "all passed"
