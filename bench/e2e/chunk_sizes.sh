#!/usr/bin/env bash
# Chooses the default chunk size by measurement: for several FastCDC averages (and fixed-size
# chunks), the bytes stored by a first backup of a real ext4 image, by an incremental after a
# "day of changes", and by a backup of a second image built from overlapping files (dedup across
# volumes), against the metadata they cost (index and snapshot objects; map pages are chunks and
# count in the stored bytes). Prints a markdown
# table. Uses the image of vs_restic.sh.
#   bench/e2e/chunk_sizes.sh [WORKDIR]     (default /var/tmp/ferry-e2e)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-/var/tmp/ferry-e2e}
bash scripts/build.sh release >/dev/null
ferry=$PWD/build/release/ferry
image=$work/ext4-2g.img
[[ -f $image ]] || { echo "run bench/e2e/vs_restic.sh first (it builds $image)"; exit 1; }
export FERRY_PASSWORD=bench

# A day of changes: 1% of the allocated 4 KiB blocks rewritten in 64 KiB runs, and 32 MiB of new
# files written into free space.
changed=$work/ext4-2g-day2.img
cp --sparse=always "$image" "$changed"
python3 - "$changed" <<'PY'
import os, random, sys
path = sys.argv[1]
r = random.Random(7)
fd = os.open(path, os.O_RDWR)
size = os.fstat(fd).st_size
data, off = [], 0
while True:  # Allocated ranges via SEEK_DATA/SEEK_HOLE.
    try:
        start = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    end = os.lseek(fd, start, os.SEEK_HOLE)
    data.append((start, end)); off = end
allocated = sum(e - s for s, e in data)
for _ in range(allocated // 100 // 65536):
    s, e = r.choice(data)
    if e - s < 65536: continue
    os.pwrite(fd, r.randbytes(65536), r.randrange(s, e - 65536) // 4096 * 4096)
holes = [(e, s2) for (_, e), (s2, _) in zip(data, data[1:]) if s2 - e >= 32 << 20]
if holes:
    os.pwrite(fd, r.randbytes(32 << 20), holes[0][0])
os.close(fd)
PY

# A second volume from overlapping files: /usr/share again, plus other directories.
other=$work/ext4-other.img
if [[ ! -f $other ]]; then
  stage=$work/stage2
  rm -rf "$stage" && mkdir -p "$stage"
  for d in /usr/share /usr/lib/python3* /usr/sbin; do cp -al "$d" "$stage/" 2>/dev/null || cp -a "$d" "$stage/"; done
  mkfs.ext4 -q -F -b 4096 -d "$stage" "$other" 3G
  rm -rf "$stage"
fi

stored() { python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes_stored"])'; }
mib() { echo "scale=1; $1 / 1048576" | bc; }
echo "| chunker | avg | first backup | day-2 incremental | second image (shares /usr/share) | metadata | chunks |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for spec in "fastcdc2020 65536" "fastcdc2020 262144" "fastcdc2020 1048576" "fastcdc2020 4194304" "fixed 1048576"; do
  set -- $spec
  repo=$work/cs-repo
  rm -rf "$repo"
  "$ferry" init -r "$repo" --chunker "$1" --avg "$2" >/dev/null 2>&1
  a=$("$ferry" backup -r "$repo" --json "$image" 2>/dev/null | stored)
  b=$("$ferry" backup -r "$repo" --json "$changed" 2>/dev/null | stored)
  c=$("$ferry" backup -r "$repo" --json "$other" 2>/dev/null | stored)
  meta=$(( $(du -sb "$repo/index" | cut -f1) + $(du -sb "$repo/snapshots" | cut -f1) ))
  chunks=$("$ferry" stats -r "$repo" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["chunks"])')
  echo "| $1 | $(( $2 >> 10 )) KiB | $(mib "$a") MiB | $(mib "$b") MiB | $(mib "$c") MiB | $(mib "$meta") MiB | $chunks |"
done
rm -rf "$work/cs-repo" "$changed"
