#!/usr/bin/env bash
# FIEMAP as a change source, on a real XFS file system: a volume file, a reflink copy taken at
# each backup, writes in between; the changes ferry derives from the two copies' extent maps
# must cover every changed block and little more, and the incremental must restore byte-exact.
# Runs in a private mount namespace on a loop-mounted XFS image; skips (exit 0, with a message)
# where loop devices, mount namespaces or mkfs.xfs are unavailable.
# Usage: fiemap_cbt_test.sh FERRY_BINARY
set -u
ferry=$1
here=$(cd "$(dirname "$0")" && pwd)
if [[ ${FERRY_IN_NAMESPACE:-} != 1 ]]; then
  command -v mkfs.xfs >/dev/null || { echo "skip: mkfs.xfs is not installed (xfsprogs)"; exit 0; }
  unshare -m true 2>/dev/null || { echo "skip: no mount namespaces here"; exit 0; }
  FERRY_IN_NAMESPACE=1 exec unshare -m --propagation private bash "$0" "$@"
fi
source "$here/lib.sh"
trap 'umount "$tmp/mnt" 2>/dev/null; rm -rf "$tmp"' EXIT
truncate -s 512M "$tmp/xfs.img"
mkfs.xfs -q -m reflink=1 "$tmp/xfs.img" || { echo "skip: mkfs.xfs failed"; exit 0; }
mkdir "$tmp/mnt"
mount -o loop "$tmp/xfs.img" "$tmp/mnt" 2>/dev/null || { echo "skip: cannot loop-mount here"; exit 0; }
export FERRY_PASSWORD=fiemap
m=$tmp/mnt
python3 "$here/../../scripts/make-volume.py" "$m/vol.img" 64 9
"$ferry" init -r "$tmp/repo" >/dev/null 2>&1
cp --reflink=always "$m/vol.img" "$m/snap-1.img"
"$ferry" backup -r "$tmp/repo" --name vol "$m/snap-1.img" >/dev/null 2>&1
check "full backup of the first reflink copy" test $? -eq 0

# A day of writes to the live volume, then the second copy.
for block in 100 101 5000 9000 16000; do
  head -c 4096 /dev/urandom | dd of="$m/vol.img" bs=4096 seek=$block conv=notrunc status=none
done
head -c $((3 << 20)) /dev/urandom | dd of="$m/vol.img" bs=1M seek=40 conv=notrunc status=none
cp --reflink=always "$m/vol.img" "$m/snap-2.img"

# The ground truth: blocks that differ between the copies.
python3 "$here/../../bench/e2e/diff_blocks.py" "$m/snap-1.img" "$m/snap-2.img" >"$tmp/truth.txt"
"$ferry" backup -r "$tmp/repo" --name vol "$m/snap-2.img" --parent auto --cbt "fiemap:$m/snap-1.img" \
  --json >"$tmp/inc.json" 2>"$tmp/err"
check "incremental backup from FIEMAP" test $? -eq 0
"$ferry" restore -r "$tmp/repo" latest -t "$tmp/out.img" >/dev/null 2>&1
check "restores byte-exact" cmp -s "$m/snap-2.img" "$tmp/out.img"
check "reads around the 3.1 MiB of changes, not the 64 MiB volume" \
  test "$(json_field "$tmp/inc.json" bytes_read)" -lt $((16 << 20))
# FIEMAP's view must cover every block that really changed.
"$ferry" changes --cbt "fiemap:$m/snap-1.img" "$m/snap-2.img" >"$tmp/fiemap.txt" 2>"$tmp/err"
check "ferry changes prints the FIEMAP changes" test $? -eq 0
check "they cover every changed block, and are not much more" python3 - "$tmp/truth.txt" "$tmp/fiemap.txt" <<'PY'
import sys
def load(p):
    return [tuple(map(int, l.split())) for l in open(p) if l.strip() and not l.startswith("#")]
truth, got = load(sys.argv[1]), load(sys.argv[2])
def covered(o, n):
    return any(s <= o and o + n <= s + l for s, l in got)
assert truth and all(covered(o, n) for o, n in truth), (truth, got)
t, g = sum(n for _, n in truth), sum(n for _, n in got)
assert g <= 4 * t + (1 << 20), (t, g)
PY
"$ferry" changes --cbt "fiemap:/nonexistent" "$m/snap-2.img" >/dev/null 2>"$tmp/err"
check "a missing previous copy is named" grep -q "/nonexistent" "$tmp/err"

finish "FIEMAP"
