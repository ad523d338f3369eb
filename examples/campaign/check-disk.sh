# Typed into each restored guest, one line at a time (scripts/campaign.ts --script).
# Drop the page cache so every read goes to the (faulty) disk, write a little,
# then check every file on the disk against its checksum list.
echo 3 > /proc/sys/vm/drop_caches; cd /mnt
dd if=/dev/urandom of=/mnt/new.bin bs=4k count=64 2>/dev/null && sync
sha256sum -c SHA256SUMS > /tmp/c 2>&1; s=$?; echo "$(grep -c ': OK$' /tmp/c) ok, $(grep -vc ': OK$' /tmp/c) bad"; (exit $s)
