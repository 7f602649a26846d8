#!/usr/bin/env bash
# Static release builds of every railcni plugin and of railcni-install: musl
# libc linked in, the release profile's LTO, panic=abort and strip. The
# image's build stage and CI both run this script, so CI checks exactly the
# binaries the image ships.
#
#   bash deploy/build-static.sh [--target TRIPLE] [--out DIR]
#
# TRIPLE: x86_64-unknown-linux-musl (default) or aarch64-unknown-linux-musl
# (cross-linked with the rust-lld that rustup ships; ring, under
# cluster-ipam's TLS to etcd, has C and assembly, which Debian's
# gcc-aarch64-linux-gnu compiles: conformance/setup.sh and the image's build
# stage install it). DIR (default
# target/static/<TRIPLE>) gets bin/<plugin>..., railcni-install and
# railcni-ipam (cluster-ipam's admin tool and node heartbeat).
#
# The plugin list is not written down anywhere: it is every binary target of
# the workspace, less the test harness package (its bench tool) and the
# installer, so a plugin crate added to the workspace is shipped as it lands.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-musl
out=
while [ $# -gt 0 ]; do
    case "$1" in
        --target) target=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) echo "build-static: unknown argument $1" >&2; exit 2 ;;
    esac
done
out=${out:-target/static/$target}

if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target" >&2
fi
case "$target" in
    # cc-rs looks for x86_64-linux-musl-gcc, which Debian does not ship; the
    # host's gcc compiles ring's C as well (it needs no libc headers).
    x86_64-*)
        if [ "$(uname -m)" = x86_64 ]; then
            export CC_x86_64_unknown_linux_musl=${CC_x86_64_unknown_linux_musl:-gcc}
        fi
        ;;
    # Only when cross-building: a native aarch64 build uses the host's cc.
    # ring's C needs only the compiler's own headers (stdint.h and the like),
    # so the glibc cross gcc serves a musl target; linking stays with rust-lld.
    aarch64-*)
        if [ "$(uname -m)" != aarch64 ]; then
            export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld
            export CC_aarch64_unknown_linux_musl=${CC_aarch64_unknown_linux_musl:-aarch64-linux-gnu-gcc}
            export AR_aarch64_unknown_linux_musl=${AR_aarch64_unknown_linux_musl:-aarch64-linux-gnu-ar}
            command -v "$CC_aarch64_unknown_linux_musl" >/dev/null || {
                echo "build-static: $CC_aarch64_unknown_linux_musl not found (Debian gcc-aarch64-linux-gnu)" >&2
                exit 1
            }
        fi
        ;;
esac

artifacts=$(mktemp)
trap 'rm -f "$artifacts"' EXIT
cargo build --release --locked --target "$target" --workspace --exclude railcni-conformance --exclude railcni-bench --exclude railcni-testkit --exclude railcni-conformance-tests --bins \
    --message-format=json-render-diagnostics >"$artifacts"

rm -rf "$out"
mkdir -p "$out/bin"
n=0
for exe in $(grep -o '"executable":"[^"]*"' "$artifacts" | cut -d'"' -f4 | sort -u); do
    name=$(basename "$exe")
    # The installer and cluster-ipam's admin tool run in the image; they are
    # not plugins for the node's CNI bin dir.
    if [ "$name" = railcni-install ] || [ "$name" = railcni-ipam ]; then
        cp "$exe" "$out/$name"
    else
        cp "$exe" "$out/bin/$name"
        n=$((n + 1))
    fi
done
[ -x "$out/railcni-install" ] || { echo "build-static: railcni-install was not built" >&2; exit 1; }
[ -x "$out/railcni-ipam" ] || { echo "build-static: railcni-ipam was not built" >&2; exit 1; }
[ "$n" -gt 0 ] || { echo "build-static: no plugin was built" >&2; exit 1; }

# Static means no program interpreter (dynamic loader) in the ELF headers.
if command -v readelf >/dev/null; then
    for f in "$out/railcni-install" "$out/railcni-ipam" "$out"/bin/*; do
        if readelf -l "$f" | grep -q 'Requesting program interpreter'; then
            echo "build-static: $f is dynamically linked" >&2
            exit 1
        fi
    done
fi
echo "build-static: $target: $n plugins, railcni-install and railcni-ipam in $out" >&2
(cd "$out" && ls -l railcni-install railcni-ipam bin/ | awk 'NF >= 9 { printf "  %-16s %9d bytes\n", $9, $5 }') >&2
