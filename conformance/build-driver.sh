#!/usr/bin/env bash
# Builds target/railcni-cnitool (conformance/driver) offline against the Go
# sources Debian packages. Installs the apt packages if missing. On success
# prints only the binary's path; on failure a message on stderr, exit != 0.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$repo/conformance/driver"
out="$repo/target/railcni-cnitool"
pkgs=(golang-go golang-github-appc-cni-dev golang-github-containerd-go-cni-dev)

die() { echo "build-driver.sh: $*" >&2; exit 1; }

missing=()
for p in "${pkgs[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
    [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
    [[ $(id -u) -eq 0 ]] || die "missing Debian packages (${missing[*]}); run as root or: apt-get install ${missing[*]}"
    log="$(mktemp)"
    trap 'rm -f "$log"' EXIT
    if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        die "apt-get failed to install: ${missing[*]}"
    fi
fi

go=/usr/bin/go
[[ -x $go ]] || die "$go not found although golang-go is installed"
mkdir -p "$repo/target"

# GOPATH mode resolves github.com/containernetworking/cni and
# github.com/containerd/go-cni from /usr/share/gocode/src (the -dev packages);
# module mode would need the proxy for go-cni's test-only requirements.
# GOENV=off and empty GOFLAGS keep a user's Go settings out; CGO_ENABLED=0
# gives a static binary and needs no C compiler.
if ! build_log="$(cd "$src" && env GO111MODULE=off GOPATH=/usr/share/gocode \
        GOPROXY=off GOFLAGS= GOENV=off GOTOOLCHAIN=local CGO_ENABLED=0 \
        GOCACHE="${GOCACHE:-$repo/target/go-build-cache}" \
        "$go" build -trimpath -o "$out" . 2>&1)"; then
    echo "$build_log" >&2
    die "go build failed in $src"
fi
echo "$out"
