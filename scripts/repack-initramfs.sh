#!/usr/bin/env bash
# Rebuilds guest/initramfs.cpio from the one already there plus guest/rootfs/,
# without the kernel and busybox builds of scripts/build-guest.sh: for changes
# to the guest's scripts only. Same steps and the same reproducible cpio as
# build-guest.sh's initramfs step, so a later full build gives the same bytes
# (files deleted from guest/rootfs/ need the full build). Updates the
# initramfs entry of guest/MANIFEST.json. Run as root (device nodes).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GUEST=$ROOT/guest
SOURCE_DATE_EPOCH=$(sed -n 's/.*"sourceDateEpoch": \([0-9]*\).*/\1/p' "$GUEST/MANIFEST.json")
R=$(mktemp -d)
trap 'rm -rf "$R"' EXIT
(cd "$R" && cpio --quiet -idm <"$GUEST/initramfs.cpio")
cp -a "$GUEST/rootfs/." "$R/"
chmod 755 "$R/init" "$R/etc/init.d/rcS" "$R/etc/init.d/selfcheck"
chmod 700 "$R/root"
chmod 1777 "$R/tmp"
find "$R" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$R" && find . | sort | cpio --quiet -o -H newc --owner=0:0 --reproducible) \
	>"$GUEST/initramfs.cpio.tmp"
mv "$GUEST/initramfs.cpio.tmp" "$GUEST/initramfs.cpio"
bytes=$(stat -c %s "$GUEST/initramfs.cpio")
sum=$(sha256sum "$GUEST/initramfs.cpio" | cut -d ' ' -f 1)
python3 - "$GUEST/MANIFEST.json" "$bytes" "$sum" <<'PY'
import json, sys
path, size, digest = sys.argv[1], int(sys.argv[2]), sys.argv[3]
m = json.load(open(path))
m["files"]["initramfs.cpio"] = {"bytes": size, "sha256": digest}
open(path, "w").write(json.dumps(m, indent=2) + "\n")
PY
echo "repack-initramfs: guest/initramfs.cpio $bytes bytes, sha256 $sum"
