# Lab/lib/common.sh - host-side helpers shared by run-in-guest.sh,
# build-initramfs.sh, run-lab.sh and capture-fixtures.sh (sourced, bash).
#
# Nothing here touches the network or the host's configuration: it only
# inspects /boot, /lib/modules, /proc/cpuinfo, /dev/kvm and dpkg.

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(cd "$LAB_DIR/.." && pwd)
# Work directory (initramfs, extracted vmlinux, run directories).  The guest
# never needs to read it through the host root, so /tmp is fine.
LAB_WORKDIR=${LAB_WORKDIR:-${TMPDIR:-/tmp}/ipsectop-lab}

lab_log() { echo "lab: $*" >&2; }
lab_die() { echo "lab: ERROR: $*" >&2; exit "${LAB_DIE_RC:-125}"; }

# Kernels the lab can boot, oldest first: /boot/vmlinuz-<rel> with modules
# and virtio-9p (the -cloud- flavour has no 9p and cannot mount the host root).
lab_kernels() {
    local f rel
    for f in /boot/vmlinuz-*; do
        [ -e "$f" ] || continue
        rel=${f#/boot/vmlinuz-}
        case $rel in *-cloud-*) continue ;; esac
        [ -d "/lib/modules/$rel/kernel" ] || continue
        grep -q '^CONFIG_NET_9P_VIRTIO=[ym]' "/boot/config-$rel" 2>/dev/null || continue
        echo "$rel"
    done | sort -V
}

# lab_kernel REQUEST -> release.  REQUEST: "" / default (the kernel Debian's
# linux-image-amd64 meta package depends on: 6.1 on Debian 12), newest, an
# exact release, or a prefix: "6.1" matches 6.1.0-56-amd64 but not 6.12.x.
lab_kernel() {
    local req=${1:-default} all k pick=
    all=$(lab_kernels)
    case $req in
        default)
            pick=$(dpkg-query -W -f='${Depends}' linux-image-amd64 2>/dev/null |
                   sed -n 's/^linux-image-\([^ ,]*\).*/\1/p')
            printf '%s\n' $all | grep -qxF "$pick" || pick=$(printf '%s\n' $all | head -n 1) ;;
        newest) pick=$(printf '%s\n' $all | tail -n 1) ;;
        *)  for k in $all; do
                case $k in "$req"|"$req".*|"$req"-*|"$req"+*) pick=$k ;; esac
            done ;;
    esac
    if [ -z "$pick" ]; then
        lab_log "no bootable kernel matches '$req' (usable: $(echo $all))"
        case $req in
            6.12*) lab_log "install it: apt-get install --no-install-recommends linux-image-6.12-amd64 zstd" ;;
            *)     lab_log "install it: apt-get install --no-install-recommends linux-image-amd64" ;;
        esac
        return 1
    fi
    echo "$pick"
}

# Accelerator: "kvm" only when it can really run a stock kernel, else "tcg".
# Reason on stderr.  Some sandboxes expose a /dev/kvm without VMX/SVM (e.g.
# a PVM-only KVM); a stock Debian kernel hangs there, so the CPU flags count.
lab_accel() {
    if [ ! -c /dev/kvm ] || [ ! -w /dev/kvm ]; then
        lab_log "accel: no usable /dev/kvm -> tcg"; echo tcg; return
    fi
    if ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
        lab_log "accel: /dev/kvm exists but the CPU has no vmx/svm flag -> tcg"; echo tcg; return
    fi
    if ! echo quit | timeout 20 qemu-system-x86_64 -accel kvm -cpu host -M pc -nodefaults \
            -display none -nic none -S -monitor stdio >/dev/null 2>&1; then
        lab_log "accel: QEMU cannot create a KVM VM -> tcg"; echo tcg; return
    fi
    lab_log "accel: kvm looks usable (run-time fallback to tcg if the guest shows no life)"
    echo kvm
}

# Prerequisites.  lab_need_cmd CMD PACKAGE: a missing command is an error
# that names the Debian package to install.  Never a silent skip.
LAB_MISSING=()
lab_need_cmd() {
    command -v "$1" >/dev/null 2>&1 || LAB_MISSING+=("$2")
}
lab_need_file() {
    [ -e "$1" ] || LAB_MISSING+=("$2")
}
# lab_check_prereqs [KERNEL_REQUESTS...]: every tool the harness and the
# scenarios use.  Prints the apt-get line and returns 1 when something is missing.
lab_check_prereqs() {
    LAB_MISSING=()
    [ "$(id -u)" = 0 ] || { lab_log "must run as root (network namespaces, netlink, 9p export of /)"; return 1; }
    lab_need_cmd qemu-system-x86_64 qemu-system-x86
    lab_need_file /bin/busybox busybox-static
    if [ -e /bin/busybox ] && ! file_is_static /bin/busybox; then LAB_MISSING+=(busybox-static); fi
    lab_need_cmd cpio cpio
    lab_need_cmd modprobe kmod
    lab_need_cmd xz xz-utils
    lab_need_cmd zstd zstd
    lab_need_cmd python3 python3
    lab_need_cmd ip iproute2
    lab_need_cmd nft nftables
    lab_need_cmd conntrack conntrack
    lab_need_cmd tcpdump tcpdump
    lab_need_cmd ping iputils-ping
    lab_need_cmd tmux tmux
    [ -e /lib/terminfo/t/tmux-256color ] || [ -e /usr/share/terminfo/t/tmux-256color ] || LAB_MISSING+=(ncurses-base)
    lab_need_cmd timeout coreutils
    lab_need_file /usr/lib/ipsec/charon strongswan-charon
    lab_need_cmd swanctl strongswan-swanctl
    local k
    for k in "$@"; do
        if ! lab_kernel "$k" >/dev/null 2>&1; then
            case $k in
                6.12*) LAB_MISSING+=(linux-image-6.12-amd64) ;;
                6.1|6.1.*|default) LAB_MISSING+=(linux-image-amd64) ;;
                *) lab_log "kernel '$k': not installed and no package known for it (installed: $(lab_kernels | tr '\n' ' '))"
                   LAB_MISSING+=("linux-image-$k-amd64") ;;
            esac
        fi
    done
    if [ ${#LAB_MISSING[@]} -gt 0 ]; then
        local uniq
        uniq=$(printf '%s\n' "${LAB_MISSING[@]}" | sort -u | tr '\n' ' ')
        lab_log "missing prerequisites: $uniq"
        case " $uniq " in *" linux-image-6.12-amd64 "*)
            lab_log "linux-image-6.12-amd64 comes from bookworm-backports (or bookworm-security); see Lab/README.md for the apt source" ;;
        esac
        lab_log "fix: apt-get install --no-install-recommends $uniq"
        return 1
    fi
    return 0
}
file_is_static() {
    # busybox-static's binary is statically linked; the dynamic "busybox"
    # package's is not, and would not run in the initramfs.
    local out
    out=$(LC_ALL=C ldd "$1" 2>&1 || true)
    case $out in *"not a dynamic executable"*) return 0 ;; *) return 1 ;; esac
}
