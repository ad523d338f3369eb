#!/usr/bin/env bash
# Boots the bundled guest (guest/) under Debian's qemu-system-riscv64 with
# the virtio-mmio devices actorvm gives it: console (hvc0), block, net. This
# is the reference that benchmarks and differential checks compare against.
# Usage and options: scripts/qemu-boot.sh -h. The guest itself: docs/guest.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GUEST=${GUEST_DIR:-$ROOT/guest}
usage() {
	cat <<USAGE
usage: scripts/qemu-boot.sh [options] [-- extra qemu arguments]
  -a ARGS   append ARGS to the kernel command line (guest/cmdline.txt)
  -c LINE   replace the whole kernel command line
  -d FILE   disk image for virtio-blk (default guest/disk.img; "none" for no disk)
  -w        let the guest write to the disk (default: writes go to a snapshot)
  -n        no network device
  -m MB     guest memory (default 128)
  -p N      N harts (QEMU's -smp N); N > 1 boots guest/variants/Image-smp (docs/smp.md)
  -q        QEMU's default rv64 CPU (with H, Zb*, Sv57) instead of ours
  -5        let the kernel use Sv57 (no \`no5lvl\`): the machine of actorvm --mmu=sv57
  -s        self-check: appends actorvm.selfcheck=1 actorvm.mount=ro
            actorvm.ip=10.0.2.15/24 actorvm.gw=10.0.2.2
The console is this terminal (stdin/stdout), shared by hvc0 (virtio-console,
which gets the keyboard) and OpenSBI's UART (its banner and earlycon=sbi output);
^C goes to the guest. Exit: type poweroff in the guest, or ^A x. QEMU_DUMPDTB=FILE dumps the device tree and exits.
USAGE
}

cmdline=$(head -n 1 "$GUEST/cmdline.txt")
disk=$GUEST/disk.img
snapshot=on
net=1
mem=128
harts=1
# The hart our emulator offers (docs/cpu.md): RV64IMAFDC + Zicsr + Zifencei
# + Zicntr + Zihpm + Sstc, Sv39/Sv48 with 16-bit ASIDs (Sv57 with --mmu=sv57);
# no H, no bitmanip, no V. QEMU 7.2's rv64 has the counters and 16 ASID bits
# already; it has no switch for Sv57, so the kernel is told `no5lvl` (Linux
# then stops at Sv48, as on our default hart, whose satp refuses Sv57); -5
# drops it, for a comparison with --mmu=sv57.
cpu=rv64,h=false,sstc=true,v=false,zba=false,zbb=false,zbc=false,zbs=false
cpu+=,Zihintpause=false,svinval=false,svnapot=false,svpbmt=false
same_mmu=no5lvl
while getopts "a:c:d:wnm:p:q5sh" opt; do
	case "$opt" in
	a) cmdline="$cmdline $OPTARG" ;;
	c) cmdline=$OPTARG ;;
	d) disk=$OPTARG ;;
	w) snapshot=off ;;
	n) net=0 ;;
	m) mem=$OPTARG ;;
	p) harts=$OPTARG ;;
	q) cpu=rv64 same_mmu= ;;
	5) same_mmu= ;;
	s) cmdline="$cmdline actorvm.selfcheck=1 actorvm.mount=ro actorvm.ip=10.0.2.15/24 actorvm.gw=10.0.2.2" ;;
	h) usage && exit 0 ;;
	*) usage >&2 && exit 2 ;;
	esac
done
shift $((OPTIND - 1))

command -v qemu-system-riscv64 >/dev/null ||
	{ echo "qemu-boot: qemu-system-riscv64 not found (apt-get install qemu-system-misc)" >&2 && exit 1; }
for f in "$GUEST/Image" "$GUEST/initramfs.cpio"; do
	[ -f "$f" ] || { echo "qemu-boot: missing $f (deno task build-guest)" >&2 && exit 1; }
done

kernel=$GUEST/Image
[ "$harts" -gt 1 ] && kernel=$GUEST/variants/Image-smp
machine=virt
[ -n "${QEMU_DUMPDTB:-}" ] && machine="virt,dumpdtb=$QEMU_DUMPDTB"

# QEMU gives the first -device the highest virtio-mmio slot.
# One stdio chardev, muxed: the UART (OpenSBI, earlycon) writes to it and the
# virtio console, attached last, has the input focus.
args=(-M "$machine" -cpu "$cpu" -m "$mem" -smp "$harts" -bios default
	-kernel "$kernel" -initrd "$GUEST/initramfs.cpio" -append "$cmdline${same_mmu:+ $same_mmu}"
	-display none -monitor none -nodefaults
	-chardev stdio,id=c0,mux=on,signal=off -serial chardev:c0
	-device virtio-serial-device -device virtconsole,chardev=c0)
if [ "$disk" != none ]; then
	[ -f "$disk" ] || { echo "qemu-boot: no disk image $disk" >&2 && exit 1; }
	args+=(-drive "if=none,file=$disk,format=raw,id=d0,snapshot=$snapshot"
		-device virtio-blk-device,drive=d0)
fi
if [ "$net" = 1 ]; then
	args+=(-netdev user,id=n0,restrict=on -device virtio-net-device,netdev=n0)
fi
exec qemu-system-riscv64 "${args[@]}" "$@"
