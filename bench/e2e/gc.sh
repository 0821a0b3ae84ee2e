#!/usr/bin/env bash
# Repository upkeep, ferry against restic in one run: the same history of SNAPSHOTS backups of an
# evolving volume (about 2% of it rewritten between backups) in both, then `forget --keep-last 10
# --prune` and `check --read-data`, timed with peak RSS. Prints a markdown table.
#   bench/e2e/gc.sh [WORKDIR]    (default /var/tmp/ferry-e2e; VOLUME_MIB=256 SNAPSHOTS=100)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-/var/tmp/ferry-e2e}
volume_mib=${VOLUME_MIB:-256}
snapshots=${SNAPSHOTS:-100}
source bench/e2e/lib.sh
: >"$work/times"
export FERRY_PASSWORD=bench RESTIC_PASSWORD=bench

vol=$work/gc-volume.img
fr=$work/gc-ferry-repo
rr=$work/gc-restic-repo
rm -rf "$fr" "$rr"
"$ferry" init -r "$fr" >/dev/null 2>&1
restic init -r "$rr" >/dev/null 2>&1
python3 scripts/make-volume.py "$vol" "$volume_mib" 7

for i in $(seq 1 "$snapshots"); do
  "$ferry" backup -r "$fr" "$vol" --name volume >/dev/null 2>&1
  restic -r "$rr" backup --compression auto "$vol" >/dev/null 2>&1
  python3 scripts/evolve-volume.py "$vol" "$i" 2
done
size_of() { du -sb "$1" | cut -f1; }
ferry_before=$(size_of "$fr")
restic_before=$(size_of "$rr")

run ferry-prune "$ferry" forget -r "$fr" --keep-last 10 --prune
run restic-prune restic -r "$rr" forget --keep-last 10 --prune
ferry_after=$(size_of "$fr")
restic_after=$(size_of "$rr")
run ferry-check "$ferry" check -r "$fr" --read-data
run restic-check restic -r "$rr" check --read-data

# Both still restore the newest backup byte-exact.
"$ferry" restore -r "$fr" latest -t "$work/gc-ferry-out.img" --overwrite >/dev/null 2>&1
rm -rf "$work/gc-restic-out"
restic -r "$rr" restore latest --target "$work/gc-restic-out" >/dev/null 2>&1
mib() { echo $(( $1 / 1024 )); }
echo "history: $snapshots backups of a $volume_mib MiB volume, ~2% rewritten between backups; forget keeps the last 10; $(nproc) cores; restic $(restic version | awk '{print $2}')"
echo
echo "| | ferry | restic | restic / ferry |"
echo "| --- | --- | --- | --- |"
echo "| repository before, MiB | $(( ferry_before >> 20 )) | $(( restic_before >> 20 )) | |"
echo "| forget + prune, s | $(get ferry-prune 2) | $(get restic-prune 2) | $(ratio "$(get restic-prune 2)" "$(get ferry-prune 2)")× |"
echo "| forget + prune peak RSS, MiB | $(mib "$(get ferry-prune 3)") | $(mib "$(get restic-prune 3)") | $(ratio "$(get restic-prune 3)" "$(get ferry-prune 3)")× |"
echo "| repository after, MiB | $(( ferry_after >> 20 )) | $(( restic_after >> 20 )) | |"
echo "| check --read-data, s | $(get ferry-check 2) | $(get restic-check 2) | $(ratio "$(get restic-check 2)" "$(get ferry-check 2)")× |"
echo "| check --read-data peak RSS, MiB | $(mib "$(get ferry-check 3)") | $(mib "$(get restic-check 3)") | $(ratio "$(get restic-check 3)" "$(get ferry-check 3)")× |"
cmp "$work/gc-ferry-out.img" "$work/gc-restic-out$vol" && echo && echo "(both restore the newest backup identically)"
rm -rf "$work/gc-ferry-out.img" "$work/gc-restic-out"
