#!/usr/bin/env bash
# Builds the bundled guest in guest/ from Debian packages only: the kernel
# Image (linux-source-6.12 + guest/kernel.fragment), a static busybox, the
# uncompressed initramfs (guest/rootfs/ on top), the ext2 test disk, the
# manifest and QEMU's reference device tree; and one more kernel for each
# guest/variants/<name>.fragment (guest/kernel.fragment plus its lines), as
# guest/variants/Image-<name> + <name>.config, for tests that need another
# kernel (e.g. an SBI hvc0). Run as root: `deno task build-guest`. Recipe:
# docs/guest.md. Scratch space: guest/build/.
#
# Idempotent: rerunning reuses the unpacked sources and make's incremental
# builds. Reproducible: fixed SOURCE_DATE_EPOCH, KBUILD_BUILD_*, sorted cpio
# with owner 0:0 and fixed mtimes, fixed ext2 UUID and hash seed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GUEST=$ROOT/guest
B=$GUEST/build
JOBS=${JOBS:-$(nproc)}
KMAKE=(make ARCH=riscv CROSS_COMPILE=riscv64-linux-gnu-)

# 2025-01-01T00:00:00Z: every timestamp that lands in an image.
export SOURCE_DATE_EPOCH=1735689600
export KBUILD_BUILD_TIMESTAMP="2025-01-01 00:00:00 UTC"
export KBUILD_BUILD_USER=actorvm KBUILD_BUILD_HOST=actorvm KBUILD_BUILD_VERSION=1
export KCONFIG_NOTIMESTAMP=1
export LC_ALL=C TZ=UTC

STEP=start
trap 'echo "build-guest: FAILED in step \"$STEP\" (line $LINENO); see the output above." >&2' ERR
step() {
	STEP=$1
	echo "== build-guest: $1"
}
die() {
	echo "build-guest: FAILED in step \"$STEP\": $*" >&2
	exit 1
}

PACKAGES=(linux-source-6.12 gcc-riscv64-linux-gnu binutils-riscv64-linux-gnu
	libc6-dev-riscv64-cross bc flex bison libssl-dev libelf-dev cpio xz-utils make
	dpkg-dev e2fsprogs device-tree-compiler qemu-system-misc opensbi)

step "packages"
missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	[ "$(id -u)" = 0 ] || die "need root to install: ${missing[*]}"
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
pkgver() { dpkg-query -W -f='${Version}' "$1"; }

step "busybox source (apt-get source busybox)"
mkdir -p "$B"
if ! ls -d "$B"/busybox-*/ >/dev/null 2>&1; then
	# apt-get source needs a deb-src entry: copy the deb822 entries with Types: deb-src.
	if ! grep -rqs '^Types:.*deb-src\|^deb-src ' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		[ "$(id -u)" = 0 ] || die "need root to add a deb-src entry to apt"
		[ -f /etc/apt/sources.list.d/debian.sources ] ||
			die "no /etc/apt/sources.list.d/debian.sources to copy a deb-src entry from"
		sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
			>/etc/apt/sources.list.d/actorvm-deb-src.sources
		apt-get update
	fi
	(cd "$B" && apt-get source busybox) || die "apt-get source busybox"
fi
BB_SRC=$(ls -d "$B"/busybox-*/ | head -n 1)
BB_SRC=${BB_SRC%/}
BB_DSC=$(ls "$B"/busybox_*.dsc | head -n 1)
BB_VERSION=$(sed -n 's/^Version: //p' "$BB_DSC")

step "kernel source (linux-source-6.12)"
KSRC=$B/linux-source-6.12
if [ ! -f "$KSRC/Makefile" ]; then
	tar -C "$B" -xf /usr/src/linux-source-6.12.tar.xz || die "unpack /usr/src/linux-source-6.12.tar.xz"
fi

# Apply each line of a fragment with scripts/config; configure_kernel runs
# this twice with olddefconfig between, since some options appear only once
# others are on.
apply_fragment() { # apply_fragment <fragment>
	local args=() line v
	while IFS= read -r line; do
		case "$line" in
		"# CONFIG_"*" is not set")
			line=${line#\# CONFIG_}
			args+=(--disable "${line%% *}")
			;;
		CONFIG_*=y) line=${line#CONFIG_} && args+=(--enable "${line%%=*}") ;;
		CONFIG_*=\"*\") line=${line#CONFIG_} && v=${line#*=} && v=${v#\"} &&
			args+=(--set-str "${line%%=*}" "${v%\"}") ;;
		CONFIG_*=*) line=${line#CONFIG_} && args+=(--set-val "${line%%=*}" "${line#*=}") ;;
		'' | '#'*) ;;
		*) die "$1: cannot read line: $line" ;;
		esac
	done <"$1"
	(cd "$KSRC" && scripts/config --file .config "${args[@]}")
}
# Every line of a fragment must hold in the final config, or we say which.
check_fragment() { # check_fragment <fragment> [name to report]
	local bad=0 line sym
	while IFS= read -r line; do
		case "$line" in
		"# CONFIG_"*" is not set")
			sym=${line#\# }
			sym=${sym%% *}
			if grep -q "^$sym=" "$KSRC/.config"; then
				echo "build-guest: ${2:-$1}: $sym is still set: $(grep "^$sym=" "$KSRC/.config")" >&2
				bad=1
			fi
			;;
		CONFIG_*=*)
			grep -qxF "$line" "$KSRC/.config" || {
				echo "build-guest: ${2:-$1}: wanted $line, .config has: $(grep "^${line%%=*}=\|^# ${line%%=*} " "$KSRC/.config" || echo nothing)" >&2
				bad=1
			}
			;;
		esac
	done <"$1"
	[ "$bad" = 0 ] || die "the kernel config does not satisfy ${2:-$1} (see above)"
}
# configure_kernel <fragment> [<variant fragment>]: tinyconfig, then the
# fragments in order; a variant's lines win over the base fragment's.
configure_kernel() {
	(cd "$KSRC" && "${KMAKE[@]}" tinyconfig >/dev/null)
	local f syms
	for _ in 1 2; do
		for f in "$@"; do apply_fragment "$f"; done
		(cd "$KSRC" && "${KMAKE[@]}" olddefconfig >/dev/null)
	done
	if [ $# = 1 ]; then
		check_fragment "$1"
		return
	fi
	check_fragment "$2"
	# The base lines the variant does not override must hold too.
	syms=$(sed -n -e 's/^CONFIG_\([A-Za-z0-9_]*\)=.*/\1/p' \
		-e 's/^# CONFIG_\([A-Za-z0-9_]*\) is not set/\1/p' "$2" | paste -sd '|')
	[ -n "$syms" ] || die "$2: no CONFIG_ lines"
	{ grep -vE "^(# )?CONFIG_($syms)[= ]" "$1" || true; } >"$B/base-for-variant.fragment"
	check_fragment "$B/base-for-variant.fragment" "$1 (under $2)"
}

step "kernel config (tinyconfig + guest/kernel.fragment)"
configure_kernel "$GUEST/kernel.fragment"

step "kernel build (make Image, a few minutes)"
(cd "$KSRC" && "${KMAKE[@]}" -j"$JOBS" Image) || die "kernel build"
install -m 644 "$KSRC/arch/riscv/boot/Image" "$GUEST/Image"
install -m 644 "$KSRC/System.map" "$GUEST/System.map"
install -m 644 "$KSRC/.config" "$GUEST/kernel.config"
KERNEL_RELEASE=$(cat "$KSRC/include/config/kernel.release")

# The variants reuse the same tree, so make rebuilds only what their options
# touch (and the next run's bundled kernel only that again).
VARIANTS=()
for f in "$GUEST"/variants/*.fragment; do
	[ -e "$f" ] || continue
	variant=$(basename "$f" .fragment)
	VARIANTS+=("$variant")
	step "kernel variant $variant (guest/kernel.fragment + guest/variants/$variant.fragment)"
	configure_kernel "$GUEST/kernel.fragment" "$f"
	(cd "$KSRC" && "${KMAKE[@]}" -j"$JOBS" Image) || die "kernel build ($variant)"
	install -m 644 "$KSRC/arch/riscv/boot/Image" "$GUEST/variants/Image-$variant"
	install -m 644 "$KSRC/.config" "$GUEST/variants/$variant.config"
	# A variant the launcher boots on its own (--smp's) keeps its symbols too.
	if grep -q '^# with System.map' "$f"; then
		install -m 644 "$KSRC/System.map" "$GUEST/variants/System.map-$variant"
	fi
done

step "busybox (static, defconfig + CONFIG_STATIC)"
BB_OUT=$B/busybox-out
mkdir -p "$BB_OUT"
if [ ! -f "$BB_OUT/.config" ]; then
	make -C "$BB_SRC" O="$BB_OUT" defconfig >/dev/null
fi
# Our two changes to defconfig, then let kconfig settle the rest.
sed -i -e 's/^# CONFIG_STATIC is not set$/CONFIG_STATIC=y/' \
	-e 's/^CONFIG_CROSS_COMPILER_PREFIX=.*/CONFIG_CROSS_COMPILER_PREFIX="riscv64-linux-gnu-"/' \
	"$BB_OUT/.config"
{ yes '' || true; } | make -C "$BB_OUT" oldconfig >/dev/null
grep -qx 'CONFIG_STATIC=y' "$BB_OUT/.config" || die "busybox .config lacks CONFIG_STATIC=y"
make -C "$BB_OUT" -j"$JOBS" busybox >/dev/null || die "busybox build"
cp "$BB_OUT/.config" "$GUEST/busybox.config"

step "initramfs (busybox + guest/rootfs, uncompressed newc cpio)"
R=$B/rootfs
rm -rf "$R"
make -C "$BB_OUT" CONFIG_PREFIX="$R" install >/dev/null || die "busybox install"
mkdir -p "$R"/{dev,proc,sys,mnt,tmp,root,etc}
cp -a "$GUEST/rootfs/." "$R/"
chmod 755 "$R/init" "$R/etc/init.d/rcS" "$R/etc/init.d/selfcheck"
chmod 700 "$R/root"
chmod 1777 "$R/tmp"
mknod -m 600 "$R/dev/console" c 5 1
mknod -m 666 "$R/dev/null" c 1 3
find "$R" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$R" && find . | sort | cpio --quiet -o -H newc --owner=0:0 --reproducible) \
	>"$GUEST/initramfs.cpio" || die "cpio"

step "test disk (4 MiB ext2 with known files)"
D=$B/disk-root
rm -rf "$D"
mkdir -p "$D/dir"
echo "hello from the actorvm test disk" >"$D/hello.txt"
seq 1 100000 >"$D/numbers.txt"
echo "a file one directory down" >"$D/dir/nested.txt"
(cd "$D" && sha256sum hello.txt numbers.txt dir/nested.txt >SHA256SUMS)
find "$D" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
rm -f "$GUEST/disk.img"
E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH mke2fs -q -t ext2 -L actorvm -d "$D" \
	-U 6163746f-7276-4d00-8000-000000000001 \
	-E root_owner=0:0,hash_seed=6163746f-7276-4d00-8000-000000000002 \
	"$GUEST/disk.img" 4M || die "mke2fs"
# mke2fs -d copies each file's ctime, which touch cannot set: pin them here.
(cd "$D" && find . -mindepth 1 | sort | sed 's|^\.\(.*\)|sif \1 ctime 20250101000000|') |
	debugfs -w -f - "$GUEST/disk.img" >/dev/null 2>&1 || die "debugfs (pinning ctimes)"
debugfs -R "stat /hello.txt" "$GUEST/disk.img" 2>/dev/null | grep -q 'ctime: 0x67748580' ||
	die "disk.img: ctime of /hello.txt was not pinned"

step "reference device tree (QEMU virt, same devices as scripts/qemu-boot.sh)"
QEMU_DUMPDTB=$B/virt.dtb bash "$ROOT/scripts/qemu-boot.sh" >/dev/null || die "qemu dumpdtb"
# QEMU writes a fresh random rng-seed into /chosen on every run: drop it.
dtc -q -I dtb -O dts "$B/virt.dtb" | grep -v '^[[:space:]]*rng-seed = ' \
	>"$GUEST/reference-virt.dts" || die "dtc"

step "manifest (guest/MANIFEST.json)"
entry() { # entry <file> [separator, "," unless given]
	[ -f "$GUEST/$1" ] || die "no $GUEST/$1 for the manifest"
	printf '    "%s": { "bytes": %d, "sha256": "%s" }%s\n' "$1" \
		"$(stat -c %s "$GUEST/$1")" "$(sha256sum "$GUEST/$1" | cut -d ' ' -f 1)" "${2-,}"
}
{
	echo '{'
	echo '  "about": "The bundled guest, built by scripts/build-guest.sh; see docs/guest.md.",'
	echo "  \"built\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
	echo "  \"sourceDateEpoch\": $SOURCE_DATE_EPOCH,"
	echo '  "debian": {'
	echo "    \"linux-source-6.12\": \"$(pkgver linux-source-6.12)\","
	echo "    \"busybox (source)\": \"$BB_VERSION\","
	echo "    \"gcc-riscv64-linux-gnu\": \"$(pkgver gcc-riscv64-linux-gnu)\","
	echo "    \"binutils-riscv64-linux-gnu\": \"$(pkgver binutils-riscv64-linux-gnu)\","
	echo "    \"libc6-dev-riscv64-cross\": \"$(pkgver libc6-dev-riscv64-cross)\","
	echo "    \"e2fsprogs\": \"$(pkgver e2fsprogs)\","
	echo "    \"qemu-system-misc\": \"$(pkgver qemu-system-misc)\""
	echo '  },'
	echo "  \"kernelRelease\": \"$KERNEL_RELEASE\","
	echo "  \"cmdline\": \"$(cat "$GUEST/cmdline.txt")\","
	echo '  "files": {'
	entry Image
	entry initramfs.cpio
	entry disk.img
	entry System.map
	entry kernel.config
	for variant in "${VARIANTS[@]}"; do
		entry "variants/Image-$variant"
		entry "variants/$variant.config"
		if [ -f "$GUEST/variants/System.map-$variant" ]; then entry "variants/System.map-$variant"; fi
	done
	entry busybox.config ''
	echo '  }'
	echo '}'
} >"$B/MANIFEST.json"
# In the layout `deno fmt` wants, so `deno task check` stays clean (with our
# deno.json, which excludes guest/build/: hence the copy formatted on stdin).
if command -v deno >/dev/null; then
	(cd "$ROOT" && deno fmt -q --ext json - <"$B/MANIFEST.json") >"$B/MANIFEST.fmt.json"
	mv "$B/MANIFEST.fmt.json" "$B/MANIFEST.json"
fi
# Keep the old manifest (and its build date) when nothing else changed.
if [ -f "$GUEST/MANIFEST.json" ] &&
	diff -q <(grep -v '"built":' "$GUEST/MANIFEST.json") <(grep -v '"built":' "$B/MANIFEST.json") >/dev/null; then
	echo "build-guest: nothing changed; guest/MANIFEST.json kept"
else
	cp "$B/MANIFEST.json" "$GUEST/MANIFEST.json"
fi

STEP=done
echo "== build-guest: done"
ls -l "$GUEST"/Image "$GUEST"/initramfs.cpio "$GUEST"/disk.img
