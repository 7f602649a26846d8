#!/usr/bin/env bash
# Prepares the throw-away test VM (see conformance/vm/README.md): QEMU, a full
# Debian kernel and a small initramfs, all cached under target/vm/.
#
# The CI machine's kernel has no bridge VLAN filtering, 802.1q, ipvlan, dummy,
# vrf or SR-IOV; a stock Debian kernel under QEMU has them all. Idempotent:
# a warm run checks stamps and exits in about a second without the network.
#
#   target/vm/kernel/      vmlinux (uncompressed ELF: qemu boots it through PVH,
#                          saving the in-guest decompression) and the
#                          package's lib/modules tree; .stamp names the package
#   target/vm/initramfs.cpio  uncompressed cpio; .stamp hashes its inputs
#
# Needs root (apt-get, mknod). Env: VM_KERNEL_PACKAGE=linux-image-6.12...-amd64
# pins a kernel package instead of the newest 6.12 in bookworm-backports;
# VM_REFRESH=1 rebuilds the kernel cache and the initramfs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
vm="$repo/target/vm"

die() { echo "prepare.sh: $*" >&2; exit 1; }
say() { echo "prepare.sh: $*" >&2; }

[[ $(id -u) -eq 0 ]] || die "needs root (apt-get install, mknod for the initramfs)"
mkdir -p "$vm"

# One prepare at a time: two concurrent ones would replace each other's files.
exec 9>"$vm/.prepare.lock"
flock 9

scratch="$(mktemp -d "$vm/tmp.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

t0=$SECONDS

# ---- packages ---------------------------------------------------------------

# QEMU must be 8.0 or newer: igb SR-IOV arrived in 8.0 (bookworm has 7.2, so
# it comes from bookworm-backports). Everything else comes from bookworm:
# kmod (modinfo/depmod for the image's modules), busybox-static (the guest's
# userland, and cpio), and the host tools copied into the guest.
installed_version() { { dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null || true; } | sed -n 's/^install ok installed //p'; }

backports_listed() {
    # grep without -q reads to the end: an early exit would make apt-cache's
    # SIGPIPE fail the pipeline (pipefail).
    apt-cache policy 2>/dev/null | grep 'bookworm-backports' >/dev/null
}

# Adds bookworm-backports on the mirror the machine already uses, then
# refreshes the lists if apt does not know the suite yet.
ensure_backports() {
    if ! grep -rqs '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        local mirror
        # deb822 (URIs:) or one-line (deb URL suite) sources; first Debian main archive wins.
        # (grep finds nothing in one of the two formats: hence the || true.)
        mirror="$(
            {
                grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources || true
                grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list || true
            } | awk '$1 == "URIs:" { for (i = 2; i <= NF; i++) print $i; next } { print ($2 ~ /^\[/) ? $3 : $2 }' |
                { grep -v -- '-security' || true; } | { grep '/debian/\?$' || true; } | head -n 1
        )"
        mirror="${mirror:-http://deb.debian.org/debian}"
        say "adding bookworm-backports ($mirror) to /etc/apt/sources.list.d/bookworm-backports.list"
        echo "deb ${mirror%/} bookworm-backports main" >/etc/apt/sources.list.d/bookworm-backports.list
    fi
    if ! backports_listed; then
        say "apt-get update (bookworm-backports not in the package lists yet)"
        apt-get update -q >"$scratch/apt.log" 2>&1 || { tail -n 20 "$scratch/apt.log" >&2; die "apt-get update failed"; }
    fi
}

# apt_install [-t SUITE] PKG...: quietly, showing apt's output only on failure.
apt_install() {
    say "installing $*"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >"$scratch/apt.log" 2>&1; then
        tail -n 20 "$scratch/apt.log" >&2
        die "apt-get install $* failed"
    fi
}

qv="$(installed_version qemu-system-x86)"
if [[ -z $qv ]] || ! dpkg --compare-versions "$qv" ge 1:8.0; then
    ensure_backports
    apt_install -t bookworm-backports qemu-system-x86
fi
need=()
for p in busybox-static kmod; do
    [[ -n $(installed_version "$p") ]] || need+=("$p")
done
# Host tools the image copies: file -> package.
declare -A tool_pkg=(
    [/usr/bin/ip]=iproute2 [/usr/sbin/nft]=nftables [/usr/bin/ping]=iputils-ping
    [/usr/sbin/xtables-nft-multi]=iptables [/usr/lib/cni/bridge]=containernetworking-plugins
    [/usr/bin/time]=time
)
for f in "${!tool_pkg[@]}"; do
    [[ -e $f ]] || need+=("${tool_pkg[$f]}")
done
if ((${#need[@]})); then
    # A fresh machine may have no package lists yet.
    if ! apt-cache policy busybox-static 2>/dev/null | grep 'Candidate: [0-9]' >/dev/null; then
        apt-get update -q >"$scratch/apt.log" 2>&1 || { tail -n 20 "$scratch/apt.log" >&2; die "apt-get update failed"; }
    fi
    apt_install "${need[@]}"
fi
t_pkg=$SECONDS

# ---- kernel -----------------------------------------------------------------

kdir="$vm/kernel"
if [[ ${VM_REFRESH:-0} == 1 || ! -s $kdir/vmlinux || ! -s $kdir/.stamp ]]; then
    ensure_backports
    pkg="${VM_KERNEL_PACKAGE:-}"
    if [[ -z $pkg ]]; then
        # linux-image-amd64 in backports depends on exactly one versioned
        # image package, e.g. linux-image-6.12.95+deb12-amd64.
        bpo="$(apt-cache madison linux-image-amd64 | awk -F'|' '$3 ~ /bookworm-backports/ { gsub(/ /, "", $2); print $2; exit }')"
        [[ -n $bpo ]] || die "linux-image-amd64 not found in bookworm-backports (apt-cache madison linux-image-amd64)"
        pkg="$(apt-cache show "linux-image-amd64=$bpo" | sed -n 's/^Depends: *\(linux-image-6\.12[^ ,]*-amd64\).*/\1/p' | head -n 1)"
        [[ -n $pkg ]] || die "linux-image-amd64 $bpo does not depend on a linux-image-6.12*-amd64 package"
    fi
    say "downloading $pkg (apt-get download; nothing is installed)"
    # apt's _apt user must be able to write the download directory.
    mkdir -p "$scratch/deb"
    chown _apt "$scratch/deb" 2>/dev/null || true
    (cd "$scratch/deb" && apt-get download -q "$pkg" >"$scratch/apt.log" 2>&1) ||
        { tail -n 20 "$scratch/apt.log" >&2; die "apt-get download $pkg failed"; }
    deb="$(ls "$scratch"/deb/*.deb)"
    say "extracting $(basename "$deb")"
    mkdir -p "$scratch/kernel"
    # Only the kernel and its modules; no maintainer scripts, no initramfs hooks.
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$scratch/kernel" --wildcards './boot/vmlinuz-*' './lib/modules/*'
    rm -f "$deb"
    vmlinuz="$(ls "$scratch"/kernel/boot/vmlinuz-*)"
    kver="${vmlinuz##*/vmlinuz-}"
    # Like the kernel's scripts/extract-vmlinux: the bzImage holds the
    # zstd-compressed vmlinux; try each zstd magic until one decompresses to ELF.
    found=0
    while read -r off; do
        if tail -c "+$((off + 1))" "$vmlinuz" | zstd -dcq 2>/dev/null >"$scratch/vmlinux"; then :; fi
        if [[ $(head -c 4 "$scratch/vmlinux" | od -An -c | tr -d ' ') == '177ELF' ]]; then found=1; break; fi
    done < <(LC_ALL=C grep -obUaP '\x28\xb5\x2f\xfd' "$vmlinuz" | LC_ALL=C cut -d: -f1)
    ((found)) || die "no zstd-compressed ELF vmlinux inside $vmlinuz"
    mv "$scratch/vmlinux" "$scratch/kernel/vmlinux"
    rm -rf "$scratch/kernel/boot"
    echo "package=$pkg kver=$kver" >"$scratch/kernel/.stamp"
    rm -rf "$kdir"
    mv "$scratch/kernel" "$kdir"
    say "kernel $kver cached in ${kdir#"$repo"/}"
fi
kver="$(sed -n 's/.*kver=\([^ ]*\).*/\1/p' "$kdir/.stamp")"
[[ -d $kdir/lib/modules/$kver ]] || die "$kdir is incomplete: remove it and run again"
t_kernel=$SECONDS

# ---- initramfs --------------------------------------------------------------

# Modules by name. Dependencies are added from modinfo; built-ins are skipped.
# veth/bridge/8021q/ipvlan/macvlan/dummy/vrf: the interface plugins. igb/igbvf:
# SR-IOV on qemu's 82576. uio_pci_generic: a userspace (DPDK) driver that
# binds a VF without an IOMMU, for the sriov plugin's DPDK mode. 9p: the host
# share. nf_tables and its expressions: the bridge plugin's ipMasq and
# macspoofchk rules (loaded on demand).
# crc32c_generic: libcrc32c (nf_conntrack, nf_nat) asks the crypto API for
# "crc32c" at load time; the softdep names an alias, and qemu's default CPU
# has no SSE4.2 for crc32c-intel.
modules=(
    crc32c_generic
    veth bridge 8021q ipvlan ipvtap macvlan macvtap dummy vrf vxlan bonding tun
    igb igbvf virtio_net uio_pci_generic
    9p 9pnet_virtio
    nf_tables nfnetlink nf_nat nf_conntrack nf_conntrack_bridge nf_reject_ipv4 nf_reject_ipv6
    nft_chain_nat nft_masq nft_nat nft_ct nft_reject nft_reject_inet nft_reject_bridge
    nft_meta_bridge nft_fib nft_fib_inet nft_fib_ipv4 nft_fib_ipv6 nft_limit nft_redir
    nft_compat nft_log nft_hash nft_numgen nft_quota nft_socket nft_tproxy nft_tunnel
    nft_fwd_netdev nft_dup_netdev nft_connlimit
    # iptables-nft's matches and targets without a native nft form (portmap).
    'xt_*'
)
# Host binaries for the guest (iproute2, nftables, iputils). busybox's own
# `ip` has no ipvlan/vrf/vf support and busybox `sh` would run it whatever
# PATH says, so the guest's shell is bash (and /bin/sh is dash).
# GNU time measures the benches' peak RSS: busybox's `time` applet would add
# its own (static, ~5 MiB) RSS to every figure.
host_bins=(/usr/bin/ip /usr/sbin/bridge /usr/sbin/tc /usr/sbin/nft /usr/bin/ping /usr/bin/bash /usr/bin/dash /usr/bin/time)
# Input of the image: this script, the guest's /init, the kernel and the
# versions of every package copied in. Any change rebuilds the image.
stamp_input() {
    sha256sum "$here/prepare.sh" "$here/init" "$kdir/.stamp"
    dpkg-query -W -f='${Package} ${Version}\n' busybox-static libc6 libgcc-s1 iproute2 nftables iputils-ping bash dash \
        iptables containernetworking-plugins netbase time 2>/dev/null || true
}
want="$(stamp_input | sha256sum | cut -d' ' -f1)"
img="$vm/initramfs.cpio"
if [[ ${VM_REFRESH:-0} != 1 && -s $img && "$(cat "$img.stamp" 2>/dev/null)" == "$want" ]]; then
    say "up to date: ${kdir#"$repo"/}/vmlinux ($kver), ${img#"$repo"/} ($((SECONDS - t0)) s)"
    exit 0
fi

say "building the initramfs"
root="$scratch/root"
# Merged /usr, as on the host, so host paths (and ldd's) can be copied as they are.
mkdir -p "$root"/{usr/bin,usr/sbin,usr/lib/x86_64-linux-gnu,usr/lib64,dev,proc,sys,run,tmp,mnt/host,etc,root,var,opt}
ln -s usr/bin "$root/bin"
ln -s usr/sbin "$root/sbin"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"
# `ip netns` keeps its mounts in /var/run/netns; /run is a tmpfs in the guest.
ln -s ../run "$root/var/run"
chmod 1777 "$root/tmp"
# The kernel opens /dev/console for /init before devtmpfs is mounted.
mknod -m 600 "$root/dev/console" c 5 1
mknod -m 666 "$root/dev/null" c 1 3

# copy_with_libs FILE: FILE and every shared library ldd lists, at the same paths.
copy_with_libs() {
    local f="$1" lib
    mkdir -p "$root$(dirname "$f")"
    cp -L "$f" "$root$f"
    while read -r lib; do
        [[ -e $root$lib ]] && continue
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done < <(ldd "$f" 2>/dev/null | grep -o '/[^ ]*' | sort -u)
}
for b in "${host_bins[@]}"; do
    [[ -x $b ]] || die "$b is missing on the host"
    copy_with_libs "$b"
done
# What dynamically linked Rust binaries (tests, plugins) need besides libc.
for l in libc.so.6 libm.so.6 libgcc_s.so.1 libpthread.so.0 libdl.so.2 librt.so.1 libutil.so.1; do
    src="/usr/lib/x86_64-linux-gnu/$l"
    [[ -e $src ]] && cp -L "$src" "$root/usr/lib/x86_64-linux-gnu/$l"
done
cp -L /lib64/ld-linux-x86-64.so.2 "$root/usr/lib64/ld-linux-x86-64.so.2"
ln -sf ../lib64/ld-linux-x86-64.so.2 "$root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
ln -sf dash "$root/usr/bin/sh"

# busybox for everything else (mount, modprobe, poweroff, coreutils...): an
# applet link only where no real binary was copied above.
cp /bin/busybox "$root/usr/bin/busybox"
while read -r applet; do
    name="${applet##*/}"
    # Skip applets a host binary provides under either bin dir (busybox lists
    # ip in sbin, the host has it in bin: a link there would shadow it).
    [[ -e $root/usr/bin/$name || -e $root/usr/sbin/$name || -L $root/$applet ]] && continue
    ln -s /usr/bin/busybox "$root/$applet"
done < <("$root/usr/bin/busybox" --list-full)

# iptables (the nft variant, Debian's default) for the reference portmap
# plugin, with the extensions it dlopens. Optional: without it only tests
# that chain portmap fail.
if [[ -x /usr/sbin/xtables-nft-multi ]]; then
    copy_with_libs /usr/sbin/xtables-nft-multi
    for l in iptables ip6tables iptables-save iptables-restore ip6tables-save ip6tables-restore; do
        ln -sf xtables-nft-multi "$root/usr/sbin/$l"
    done
    for x in /usr/lib/x86_64-linux-gnu/xtables/*.so; do copy_with_libs "$x"; done
else
    say "note: iptables (xtables-nft-multi) is missing on the host; the guest will have none"
fi
for f in /etc/protocols /etc/services /etc/ethertypes; do
    [[ -f $f ]] && cp "$f" "$root$f"
done

# Debian's reference plugins, for tests that chain them (44 MB; unpacking
# them in the guest costs well under a second, executing them over 9p ~1 s each).
if [[ -d /usr/lib/cni ]]; then
    mkdir -p "$root/usr/lib/cni"
    cp -a /usr/lib/cni/. "$root/usr/lib/cni/"
else
    say "note: /usr/lib/cni is missing (containernetworking-plugins); the guest will have no reference plugins"
fi

printf 'root:x:0:0:root:/root:/bin/bash\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
echo railcni-vm >"$root/etc/hostname"
# A loader cache for the image itself (the host's would name absent files).
ldconfig -r "$root"

# Modules: decompressed (the guest loads them ~2x faster) and with the
# signature stripped (the kernel only taints itself), then depmod on just
# these, so on-demand loading (request_module -> busybox modprobe) works.
src_mod="$kdir/lib/modules/$kver"
dst_mod="$root/lib/modules/$kver"
mkdir -p "$dst_mod"
declare -A path_of=() builtin=() picked=()
while read -r p; do
    n="${p##*/}"; n="${n%%.ko*}"; path_of[${n//-/_}]="$p"
done < <(cd "$src_mod" && find kernel -name '*.ko*')
while read -r p; do
    n="${p##*/}"; n="${n%%.ko*}"; builtin[${n//-/_}]=1
done <"$src_mod/modules.builtin"
queue=()
for m in "${modules[@]}"; do
    if [[ $m == *'*'* ]]; then
        # shellcheck disable=SC2053 # a glob on purpose
        for n in "${!path_of[@]}"; do [[ $n == $m ]] && queue+=("$n"); done
    else
        queue+=("$m")
    fi
done
while ((${#queue[@]})); do
    n="${queue[0]//-/_}"
    queue=("${queue[@]:1}")
    optional=0
    [[ $n == '?'* ]] && optional=1 && n="${n#'?'}"
    [[ -n $n && -z ${picked[$n]:-} && -z ${builtin[$n]:-} ]] || continue
    if [[ -z ${path_of[$n]:-} ]]; then
        ((optional)) && continue
        die "module $n is neither built in nor in ${src_mod#"$repo"/}"
    fi
    picked[$n]=1
    f="$src_mod/${path_of[$n]}"
    deps="$(modinfo -F depends "$f" | tr ',' ' ')"
    # softdep "pre: a b post: c": wanted where a module of that name exists
    # (they may also name an alias, like crc32c, which is then skipped).
    soft="$(modinfo -F softdep "$f" | tr ' ' '\n' | grep -v -e ':$' -e '^$' | sed 's/^/?/' || true)"
    # shellcheck disable=SC2206
    queue+=($deps $soft)
done
for n in "${!picked[@]}"; do
    rel="${path_of[$n]}"
    out="$dst_mod/${rel%.xz}"
    mkdir -p "$(dirname "$out")"
    xz -dc "$src_mod/$rel" >"$out"
    # strip drops everything outside the ELF sections, i.e. the appended signature.
    strip --strip-debug "$out"
done
cp "$src_mod"/modules.{builtin,builtin.modinfo,order} "$dst_mod/"
depmod -b "$root" "$kver"
say "${#picked[@]} modules"

install -m 755 "$here/init" "$root/init"
# Run by busybox `uevent` for every kernel uevent (the kernel has no uevent
# helper): load the driver of a device that appeared, e.g. igbvf for a VF.
cat >"$root/usr/sbin/vm-hotplug" <<'EOF'
#!/bin/sh
[ "$ACTION" = add ] && [ -n "${MODALIAS:-}" ] && exec modprobe -q "$MODALIAS"
exit 0
EOF
chmod 755 "$root/usr/sbin/vm-hotplug"

# busybox cpio prints a block count on stderr: shown only if it fails.
(cd "$root" && find . -print0 | LC_ALL=C sort -z | busybox cpio -o -H newc -0 >"$scratch/initramfs.cpio" 2>"$scratch/cpio.log") ||
    { cat "$scratch/cpio.log" >&2; die "cpio failed"; }
mv "$scratch/initramfs.cpio" "$img"
echo "$want" >"$img.stamp"
say "initramfs: ${img#"$repo"/} ($(du -m "$img" | cut -f1) MB), kernel $kver; $((SECONDS - t0)) s" \
    "(packages $((t_pkg - t0)) s, kernel $((t_kernel - t_pkg)) s, image $((SECONDS - t_kernel)) s)"
