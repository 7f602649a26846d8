#!/usr/bin/env bash
# CI for deploy/ (a step of conformance/test.sh; conformance/setup.sh
# installs its tools). No Docker engine is needed:
#   1. hadolint lints the Dockerfile;
#   2. validate.py checks every manifest against the Kubernetes API schemas
#      (offline), the NADs against the NAD CRD, and the Dockerfile's layout;
#   3. build-static.sh builds what the image's build stage builds;
#   4. the static railcni-install installs the static plugins into a temp
#      root, each installed plugin answers VERSION, a second run changes
#      nothing, uninstall removes everything;
#   5. the deploy/ example configs run through the static plugins
#      (conformance/tests/deploy_examples.rs with RAILCNI_BIN_DIR);
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
    local args=(--src "$out/bin" --bin-dir "$root/opt/cni/bin" --conf-dir "$root/etc/cni/net.d" --conflist "$conf" --once)
    $run "$out/railcni-install" install "${args[@]}" 2>/dev/null
    for p in "$out"/bin/*; do
        name=$(basename "$p")
        cmp -s "$p" "$root/opt/cni/bin/$name" || { say "$name was not installed"; return 1; }
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
    say "install/VERSION/reinstall/uninstall ok: $(ls "$out/bin" | tr '\n' ' ')"

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
