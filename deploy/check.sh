#!/usr/bin/env bash
# CI for deploy/ (a step of conformance/test.sh; conformance/setup.sh
# installs its tools). No Docker engine is needed:
#   1. hadolint lints the Dockerfile;
#   2. validate.py checks every manifest against the Kubernetes API schemas
#      (offline), the NADs against the NAD CRD, and the Dockerfile's layout;
#   3. build-static.sh builds what the image's build stage builds;
#   4. the static railcni-install installs the static plugins into a temp
#      root, each installed plugin answers VERSION, and renders cluster-ipam's
#      node settings from a Secret-like directory (mode 0600, host paths);
#      a second run changes nothing, uninstall removes everything;
#   5. the deploy/ example configs run through the static plugins
#      (conformance/tests/deploy_examples.rs with RAILCNI_BIN_DIR): the
#      cluster-ipam rail examples attach through a real etcd with the
#      settings the static railcni-install rendered;
#   6. the same build for aarch64, run under qemu-user where it is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "deploy/check: $*" >&2; }
for cmd in hadolint kubectl python3; do
    command -v "$cmd" >/dev/null || { say "$cmd not found; run conformance/setup.sh"; exit 1; }
done
begin=$SECONDS

say "hadolint deploy/Dockerfile"
hadolint deploy/Dockerfile

say "validate.py"
python3 deploy/validate.py

x86=target/static/x86_64-unknown-linux-musl
t=$SECONDS
bash deploy/build-static.sh --target x86_64-unknown-linux-musl --out "$x86"
say "x86_64 static build: $((SECONDS - t)) s"

# An install as the DaemonSet does it, with the static binaries.
smoke() {
    local out=$1 run=${2:-}
    local root
    root=$(mktemp -d)
    trap 'rm -rf "$root"' RETURN
    local conf=deploy/kustomize/overlays/node-conflist/10-railcni.conflist
    # A Secret volume's keys, as the cluster-ipam overlay mounts them.
    local secret=$root/secret
    mkdir -p "$secret"
    printf 'https://10.0.0.1:2379,https://10.0.0.2:2379\n' >"$secret/endpoints"
    printf 'check-ca\n' >"$secret/ca.crt"
    printf 'check-cert\n' >"$secret/tls.crt"
    printf 'check-key\n' >"$secret/tls.key"
    local -x NODE_NAME=check-node
    local args=(--src "$out/bin" --bin-dir "$root/opt/cni/bin" --conf-dir "$root/etc/cni/net.d" --conflist "$conf" --once
        --cluster-ipam-secret "$secret" --host-conf-dir /etc/cni/net.d)
    $run "$out/railcni-install" install "${args[@]}" 2>/dev/null
    local settings=$root/etc/cni/net.d/railcni.d/cluster-ipam.json
    for f in "$settings" "$root"/etc/cni/net.d/railcni.d/etcd/{ca.crt,tls.crt,tls.key}; do
        [ "$(stat -c %a "$f")" = 600 ] || { say "$f is not mode 0600"; return 1; }
    done
    python3 - "$settings" <<'PY' || { say "cluster-ipam.json is not what the Secret says"; return 1; }
import json, sys
s = json.load(open(sys.argv[1]))
assert s == {"etcd_endpoints": ["https://10.0.0.1:2379", "https://10.0.0.2:2379"],
             "etcd_ca_cert_file": "/etc/cni/net.d/railcni.d/etcd/ca.crt",
             "etcd_cert_file": "/etc/cni/net.d/railcni.d/etcd/tls.crt",
             "etcd_key_file": "/etc/cni/net.d/railcni.d/etcd/tls.key",
             "node_name": "check-node"}, s
PY
    for p in "$out"/bin/*; do
        name=$(basename "$p")
        cmp -s "$p" "$root/opt/cni/bin/$name" || { say "$name was not installed"; return 1; }
        # cluster-ipam's admin command is shipped beside the plugins, but is no plugin.
        [ "$name" = railcni-ipam ] && continue
        local version
        version=$(CNI_COMMAND=VERSION $run "$root/opt/cni/bin/$name" <<<'{"cniVersion":"1.0.0"}')
        grep -q '"supportedVersions"' <<<"$version" || { say "installed $name does not answer VERSION: $version"; return 1; }
    done
    cmp -s "$conf" "$root/etc/cni/net.d/10-railcni.conflist" || { say "the conflist was not installed"; return 1; }
    local again
    again=$($run "$out/railcni-install" install "${args[@]}" 2>&1)
    if grep -q 'railcni-install: installed' <<<"$again"; then
        say "a second install rewrote files: $again"
        return 1
    fi
    $run "$out/railcni-install" uninstall "${args[@]}" 2>/dev/null
    local left
    left=$(find "$root/opt/cni/bin" "$root/etc/cni/net.d" -mindepth 1)
    [ -z "$left" ] || { say "uninstall left files: $left"; return 1; }
    say "install/VERSION/cluster-ipam settings/reinstall/uninstall ok: $(ls "$out/bin" | tr '\n' ' ')"

    # A node that has the reference plugins: railcni keeps them aside and
    # puts them back on uninstall.
    local kept=()
    for p in "$out"/bin/*; do
        name=$(basename "$p")
        [ -f "/usr/lib/cni/$name" ] && cp "/usr/lib/cni/$name" "$root/opt/cni/bin/" && kept+=("$name")
    done
    [ ${#kept[@]} -gt 0 ] || { say "no reference plugin to test the backup with"; return 1; }
    $run "$out/railcni-install" install "${args[@]}" 2>/dev/null
    for name in "${kept[@]}"; do
        cmp -s "/usr/lib/cni/$name" "$root/opt/cni/bin/.railcni-backup/$name" || { say "$name not kept"; return 1; }
        cmp -s "$out/bin/$name" "$root/opt/cni/bin/$name" || { say "$name not installed over the reference"; return 1; }
    done
    $run "$out/railcni-install" uninstall "${args[@]}" 2>/dev/null
    for name in "${kept[@]}"; do
        cmp -s "/usr/lib/cni/$name" "$root/opt/cni/bin/$name" || { say "the reference $name was not restored"; return 1; }
    done
    [ ! -e "$root/opt/cni/bin/.railcni-backup" ] || { say "the backup dir was left"; return 1; }
    say "reference plugins kept and restored: ${kept[*]}"
}
smoke "$x86"

say "deploy examples through the static plugins"
RAILCNI_BIN_DIR="$PWD/$x86/bin" cargo test -q -p railcni-conformance-tests --test deploy_examples 2>&1

arm=target/static/aarch64-unknown-linux-musl
t=$SECONDS
bash deploy/build-static.sh --target aarch64-unknown-linux-musl --out "$arm"
say "aarch64 static build: $((SECONDS - t)) s"
if command -v qemu-aarch64-static >/dev/null; then
    smoke "$arm" qemu-aarch64-static
else
    say "qemu-aarch64-static not installed: aarch64 binaries built, not run"
fi
say "done in $((SECONDS - begin)) s"
