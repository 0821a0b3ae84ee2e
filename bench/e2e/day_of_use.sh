#!/usr/bin/env bash
# Changes an ext4 image the way a day of use changes a disk: files added (real binaries of this
# machine), files deleted, a large file rewritten in place, a log appended to. About PERCENT of
# the image's size is written.
#   day_of_use.sh IMAGE PERCENT SEED
set -euo pipefail
image=$1 percent=$2 seed=$3
mnt=$(mktemp -d)
trap 'umount "$mnt" 2>/dev/null || true; rmdir "$mnt"' EXIT
mount -o loop "$image" "$mnt"
size=$(stat -c %s "$image")
budget=$(( size * percent / 100 ))
RANDOM=$seed

# 40%: new files, copied from the machine's libraries.
added=0
mkdir -p "$mnt/new-$seed"
while read -r f; do
  [[ $added -ge $(( budget * 4 / 10 )) ]] && break
  cp "$f" "$mnt/new-$seed/" 2>/dev/null || continue
  added=$(( added + $(stat -c %s "$f") ))
done < <(find /usr/lib/x86_64-linux-gnu -maxdepth 1 -type f -size +20k | shuf --random-source=<(yes "$seed"))

# Some deletions: every file of one directory.
victim=$(find "$mnt/share" -mindepth 1 -maxdepth 1 -type d | shuf -n1 --random-source=<(yes "$seed"))
rm -rf "$victim"

# 40%: a large file rewritten in place (a database or VM file being updated).
big=$(find "$mnt" -type f -size +4M -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2-)
rewrite=$(( budget * 4 / 10 ))
bsize=$(stat -c %s "$big")
[[ $rewrite -gt $bsize ]] && rewrite=$bsize
dd if=/dev/urandom of="$big" bs=64k count=$(( rewrite / 65536 )) seek=$(( (bsize - rewrite) / 2 / 65536 )) \
  conv=notrunc status=none

# 20%: a log grows.
head -c $(( budget * 2 / 10 )) /dev/urandom | base64 >>"$mnt/var-log-$seed.txt"
sync
umount "$mnt"
