#!/usr/bin/env bash
# Boots the throw-away test VM once and runs one script in it as root:
#
#   conformance/vm/run.sh SCRIPT [--share DIR] [--timeout SECS] [-- ARG...]
#
# DIR (default: the repo's target/) is shared read-write over 9p and mounted
# at /mnt/host in the guest; the guest's /init runs SCRIPT with bash, with
# VM_SHARE=/mnt/host. SCRIPT is a host path: a file inside DIR runs in place,
# any other file is copied into DIR/.vm-payload-PID/ for the run. A path that
# does not exist on the host is taken as relative to DIR. ARGs reach SCRIPT
# through the kernel command line, so they cannot hold spaces or commas.
#
# The serial console streams to stdout and to target/vm/log/. The exit status
# is the guest script's (the `RESULT rc=N` line /init prints); 99 if the VM
# crashed or timed out (no marker), after the tail of the log.
#
# Env: VM_TIMEOUT (seconds, default 900), VM_MEM (MiB, default 2048: the staged debug plugins live in RAM),
# VM_ACCEL (tcg or kvm; default kvm only if the CPU has vmx/svm),
# VM_KERNEL_ARGS (appended to the kernel command line).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
vm="$repo/target/vm"

die() { echo "run.sh: $*" >&2; exit 2; }
usage() { die "usage: run.sh SCRIPT [--share DIR] [--timeout SECS] [-- ARG...]"; }

script="" share="$repo/target" timeout="${VM_TIMEOUT:-900}" payload_args=()
while (($#)); do
    case "$1" in
    --share) share="${2:?--share needs a directory}"; shift 2 ;;
    --timeout) timeout="${2:?--timeout needs seconds}"; shift 2 ;;
    --) shift; payload_args=("$@"); break ;;
    -h | --help) usage ;;
    -*) die "unknown option $1" ;;
    *) [[ -z $script ]] || usage; script="$1"; shift ;;
    esac
done
[[ -n $script ]] || usage
[[ $timeout =~ ^[0-9]+$ ]] || die "--timeout must be a number of seconds"

qemu=/usr/bin/qemu-system-x86_64
kernel="$vm/kernel/vmlinux"
initrd="$vm/initramfs.cpio"
for f in "$qemu" "$kernel" "$initrd"; do
    [[ -e $f ]] || die "$f is missing: run conformance/vm/prepare.sh first (as root)"
done
[[ -d $share ]] || die "share $share is not a directory"
share="$(cd "$share" && pwd -P)"

# The payload's path relative to the share (the kernel command line carries it).
payload_dir=""
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() { [[ -z $payload_dir ]] || rm -rf "$payload_dir"; }
trap cleanup EXIT
if [[ -f $script ]]; then
    abs="$(cd "$(dirname "$script")" && pwd -P)/$(basename "$script")"
    if [[ $abs == "$share"/* ]]; then
        rel="${abs#"$share"/}"
    else
        # One directory per run: concurrent runs may share DIR.
        payload_dir="$share/.vm-payload-$$"
        mkdir -p "$payload_dir"
        cp "$abs" "$payload_dir/$(basename "$abs")"
        rel="${payload_dir##*/}/$(basename "$abs")"
    fi
elif [[ -f $share/$script ]]; then
    rel="$script"
else
    die "$script: no such file (on the host, or in $share)"
fi
# The kernel command line is split on spaces and has no quoting we rely on.
[[ $rel =~ ^[A-Za-z0-9._/+-]+$ ]] || die "payload path '$rel' has characters the kernel command line cannot carry"
for a in "${payload_args[@]}"; do
    [[ $a =~ ^[A-Za-z0-9._/+:=@-]+$ ]] || die "argument '$a' has characters the kernel command line cannot carry"
done

accel="${VM_ACCEL:-}"
if [[ -z $accel ]]; then
    # /dev/kvm may exist without vmx/svm (a software KVM that cannot run a
    # stock kernel): only real hardware virtualization gets KVM.
    if [[ -w /dev/kvm ]] && grep -qE '\b(vmx|svm)\b' /proc/cpuinfo; then accel=kvm; else accel=tcg; fi
fi

mkdir -p "$vm/log"
log="$vm/log/run-$(date +%Y%m%d-%H%M%S)-$$.log"
ln -sfn "$(basename "$log")" "$vm/log/last.log"
# Keep this run's log and the 19 newest before it.
find "$vm/log" -name 'run-*.log' -printf '%T@ %p\n' | sort -rn | tail -n +20 | cut -d' ' -f2- | xargs -r rm -f

cmdline="console=ttyS0 panic=-1 rcupdate.rcu_expedited=1 cryptomgr.notests apparmor=0 mitigations=off"
cmdline+=" nowatchdog loglevel=4 railcni.cmd=$rel ${VM_KERNEL_ARGS:-}"
if ((${#payload_args[@]})); then
    cmdline+=" railcni.args=$(IFS=,; echo "${payload_args[*]}")"
fi

# qemu option values escape commas by doubling them.
share_opt="${share//,/,,}"
cpu=()
[[ $accel == kvm ]] && cpu=(-cpu host)
args=(
    -machine q35 -accel "$accel" "${cpu[@]}" -smp 1 -m "${VM_MEM:-2048}"
    # Like -nographic, but without a VGA card whose BIOS text SeaBIOS would
    # mirror onto the serial console: the console carries only the guest's lines.
    -nodefaults -no-user-config -display none -serial stdio -no-reboot
    -kernel "$kernel" -initrd "$initrd" -append "$cmdline"
    -virtfs "local,path=$share_opt,mount_tag=host,security_model=none,multidevs=remap"
    # Two igb (82576) NICs, each behind a PCIe root port, for SR-IOV: each
    # PF can create up to 7 VFs; 8 rails of VFs need both. The first (the
    # lower PCI address) is the one single-PF tests use. restrict=on: the
    # guest reaches nothing outside.
    -device "pcie-root-port,id=rp0,chassis=1" -device "igb,bus=rp0,netdev=n0"
    -netdev "user,id=n0,restrict=on"
    -device "pcie-root-port,id=rp1,chassis=2" -device "igb,bus=rp1,netdev=n1"
    -netdev "user,id=n1,restrict=on"
)

echo "run.sh: booting $(sed -n 's/.*kver=\([^ ]*\).*/\1/p' "$vm/kernel/.stamp") ($accel), share $share, running $rel; log ${log#"$repo"/}" >&2
start=$SECONDS
set +e
# stdin from /dev/null: qemu must not take over a terminal. timeout sends
# TERM, then KILL 10 s later if qemu ignores it.
timeout -k 10 "$timeout" "$qemu" "${args[@]}" </dev/null 2>&1 | tee "$log"
status=("${PIPESTATUS[@]}")
set -e
wall=$((SECONDS - start))

rc="$(tr -d '\r' <"$log" | sed -n 's/^RESULT rc=\([0-9]\{1,3\}\)$/\1/p' | tail -n 1)"
if [[ -z $rc ]]; then
    echo >&2
    if [[ ${status[0]} == 124 || ${status[0]} == 137 ]]; then
        echo "run.sh: the VM timed out after ${timeout} s (no RESULT line); last lines of ${log#"$repo"/}:" >&2
    else
        echo "run.sh: the VM stopped without a RESULT line (crash? qemu status ${status[0]}) after ${wall} s; last lines of ${log#"$repo"/}:" >&2
    fi
    tr -d '\r' <"$log" | tail -n 40 | sed 's/^/  | /' >&2
    exit 99
fi
echo "run.sh: guest exit status $rc after ${wall} s" >&2
exit "$rc"
