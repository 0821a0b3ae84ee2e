#!/usr/bin/env bash
# Incremental backups and delta restores on the realistic image changed the way a day of use
# changes a disk (about 1% and 4% of it written), with the changed blocks as the change list:
# ferry's CBT incremental (at the repository's zstd level and at level 1) against restic's second
# backup of the same image and against the physical floor (reading just the changed blocks with
# the same I/O backend); stored bytes against changed bytes; delta restore against full restore;
# then the chunker and chunk size trade-off. Prints markdown tables.
#   bench/e2e/incremental.sh [WORKDIR]     (default /var/tmp/ferry-e2e; needs ~10 GB free; root)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-/var/tmp/ferry-e2e}
source bench/e2e/lib.sh
read_ranges=$PWD/build/release/bench/read_ranges
: >"$work/times"
export FERRY_PASSWORD=bench RESTIC_PASSWORD=bench
disk=$work/disk.img
json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
mib() { echo "scale=1; $1 / 1048576" | bc; }

make_days
changed_bytes() { awk '{s += $2} END {print s}' "$work/changes-$1.txt"; }

rm -rf "$work/inc-ferry" "$work/inc-restic"
"$ferry" init -r "$work/inc-ferry" >/dev/null 2>&1
restic init -r "$work/inc-restic" >/dev/null 2>&1
cp --sparse=always "$image" "$disk"
run ferry-full "$ferry" backup -r "$work/inc-ferry" --name disk "$disk" --json
run restic-full restic -r "$work/inc-restic" backup --compression auto "$disk"
full_id=$(json_field "$work/log.ferry-full" snapshot)
# The same incrementals at the full backups' zstd level 3 (backup --compression 3) instead of the
# incremental level 1, from a copy of the repository as the full backup left it.
rm -rf "$work/inc-ferry-l3"
cp -a "$work/inc-ferry" "$work/inc-ferry-l3"

run open-repo "$ferry" snapshots -r "$work/inc-ferry"  # The fixed cost: key derivation, index.
for pct in 1 4; do
  cp --sparse=always "$work/day-$pct.img" "$disk"
  run "floor-$pct" "$read_ranges" "$disk" "$work/changes-$pct.txt"
  run "ferry-inc-$pct" "$ferry" backup -r "$work/inc-ferry" --name disk "$disk" --parent "$full_id" \
    --cbt "list:$work/changes-$pct.txt" --json
  run "ferry-l3-inc-$pct" "$ferry" backup -r "$work/inc-ferry-l3" --name disk "$disk" \
    --parent "$full_id" --cbt "list:$work/changes-$pct.txt" --compression 3 --json
  run "restic-inc-$pct" restic -r "$work/inc-restic" backup --compression auto "$disk"
  "$ferry" restore -r "$work/inc-ferry" "$(json_field "$work/log.ferry-inc-$pct" snapshot)" \
    -t "$work/check.img" --overwrite >/dev/null 2>&1
  cmp "$disk" "$work/check.img"
done

# Roll the 4% image back to the full backup: a full restore, a delta restore comparing
# everything, and a delta restore told the target's changes.
run restore-full "$ferry" restore -r "$work/inc-ferry" "$full_id" -t "$work/check.img" --overwrite --json
cmp "$image" "$work/check.img"
run restore-delta "$ferry" restore -r "$work/inc-ferry" "$full_id" -t "$disk" --delta --json
cmp "$image" "$disk"
cp --sparse=always "$work/day-4.img" "$disk"
run restore-delta-cbt "$ferry" restore -r "$work/inc-ferry" "$full_id" -t "$disk" --delta \
  --cbt "list:$work/changes-4.txt" --json
cmp "$image" "$disk"

echo "image: 2 GiB ext4 of real files; $(nproc) cores; $(uname -r); floor: $(cut -d' ' -f3 "$work/log.floor-1")"
echo
echo "Opening the repository (passphrase key derivation, index) costs ferry $(get open-repo 2) s per command."
echo
echo "| changed (day of use) | floor: read changed blocks | ferry CBT incremental, wall (job) | restic 2nd backup | ferry / floor, wall (job) | restic / ferry | ferry read | ferry stored / changed |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for pct in 1 4; do
  c=$(changed_bytes "$pct")
  read=$(json_field "$work/log.ferry-inc-$pct" bytes_read)
  stored=$(json_field "$work/log.ferry-inc-$pct" bytes_stored)
  job=$(printf '%.2f' "$(json_field "$work/log.ferry-inc-$pct" seconds)")
  echo "| ~$pct%: $(mib "$c") MiB | $(get "floor-$pct" 2) s | $(get "ferry-inc-$pct" 2) s ($job s) | $(get "restic-inc-$pct" 2) s | $(ratio "$(get "ferry-inc-$pct" 2)" "$(get "floor-$pct" 2)")× ($(ratio "$job" "$(get "floor-$pct" 2)")×) | $(ratio "$(get "restic-inc-$pct" 2)" "$(get "ferry-inc-$pct" 2)")× | $(mib "$read") MiB | $(ratio "$stored" "$c") |"
  stored=$(json_field "$work/log.ferry-l3-inc-$pct" bytes_stored)
  job=$(printf '%.2f' "$(json_field "$work/log.ferry-l3-inc-$pct" seconds)")
  echo "| ~$pct%, \`--compression 3\` | | $(get "ferry-l3-inc-$pct" 2) s ($job s) | | $(ratio "$(get "ferry-l3-inc-$pct" 2)" "$(get "floor-$pct" 2)")× ($(ratio "$job" "$(get "floor-$pct" 2)")×) | $(ratio "$(get "restic-inc-$pct" 2)" "$(get "ferry-l3-inc-$pct" 2)")× | | $(ratio "$stored" "$c") |"
done
echo
echo "| rollback of the ~4% image to the full backup | time | compared | written |"
echo "| --- | --- | --- | --- |"
for step in restore-full restore-delta restore-delta-cbt; do
  echo "| $step | $(get "$step" 2) s | $(mib "$(json_field "$work/log.$step" bytes_compared)") MiB | $(mib "$(json_field "$work/log.$step" bytes_written)") MiB |"
done

# The chunker trade-off: first backup (dedup, metadata) against incremental cost.
if [[ ${FERRY_BENCH_CHUNKERS:-1} == 1 ]]; then
  echo
  echo "| chunker | full: s, stored MiB | ~1%: s, read MiB, stored MiB | ~4%: s, read MiB, stored MiB |"
  echo "| --- | --- | --- | --- |"
  for cfg in "fastcdc2020 65536" "fastcdc2020 131072" "fastcdc2020 262144" "fastcdc2020 1048576" "fixed 65536" "fixed 262144"; do
    set -- $cfg
    repo=$work/inc-$1-$2
    rm -rf "$repo"
    "$ferry" init -r "$repo" --chunker "$1" --avg "$2" >/dev/null 2>&1
    cp --sparse=always "$image" "$disk"
    run "c-full-$1-$2" "$ferry" backup -r "$repo" --name disk "$disk" --json
    fid=$(json_field "$work/log.c-full-$1-$2" snapshot)
    row="| $1 $(( $2 >> 10 )) KiB | $(get "c-full-$1-$2" 2), $(mib "$(json_field "$work/log.c-full-$1-$2" bytes_stored)")"
    for pct in 1 4; do
      cp --sparse=always "$work/day-$pct.img" "$disk"
      run "c-$pct-$1-$2" "$ferry" backup -r "$repo" --name disk "$disk" --parent "$fid" \
        --cbt "list:$work/changes-$pct.txt" --json
      row="$row | $(get "c-$pct-$1-$2" 2), $(mib "$(json_field "$work/log.c-$pct-$1-$2" bytes_read)"), $(mib "$(json_field "$work/log.c-$pct-$1-$2" bytes_stored)")"
    done
    echo "$row |"
    rm -rf "$repo"
  done
fi
rm -f "$work/check.img" "$disk"
