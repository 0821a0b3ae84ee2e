#!/usr/bin/env bash
# The qcow2 layout against doing the same with qemu-img, in one run on the realistic image:
#   full backup       ferry backup into the layout     vs  qemu-img convert -O qcow2
#   day-1% overlay    ferry backup --cbt list:FILE     vs  qemu-img convert -B previous (compares
#                     ferry backup (cluster compare)        every cluster with the backing image)
#   forget the middle ferry forget (merge)             vs  qemu-img rebase -b first (safe mode)
#   restore           ferry restore to a new file      vs  qemu-img convert -O raw
#   roll back 4%      ferry restore --delta [--cbt]    vs  qemu-img convert -n (writes it all)
# and the 1% overlay again with --cbt-verify 1 (ferry only). qemu-img convert runs with
# `-t writeback` (flush before exit): its default, `unsafe`, returns before anything is on disk,
# while ferry returns once its output is durable. Every image is checked with
# qemu-img check and compare, every restore with cmp. Prints a markdown table.
#   bench/e2e/qcow2_layout.sh [WORKDIR]     (default /var/tmp/ferry-e2e; ~10 GB free; root)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-/var/tmp/ferry-e2e}
source bench/e2e/lib.sh
: >"$work/times"
make_days
layout=$work/layout
q=$work/qemu-chain
disk=$work/disk.img
rm -rf "$layout" "$q" && mkdir -p "$q"
"$ferry" init -r "$layout" --layout qcow2 >/dev/null 2>&1
ids() { "$ferry" snapshots -r "$layout" --json | python3 -c 'import json,sys; print(" ".join(s["id"] for s in json.load(sys.stdin)))'; }

cp --sparse=always "$image" "$disk"
run ferry-full "$ferry" backup -r "$layout" --name disk "$disk"
run qemu-full qemu-img convert -t writeback -f raw -O qcow2 "$disk" "$q/0.qcow2"
cp --sparse=always "$work/day-1.img" "$disk"
rm -rf "$work/layout-verify" && cp -a "$layout" "$work/layout-verify"
run ferry-cbt "$ferry" backup -r "$layout" --name disk --cbt "list:$work/changes-1.txt" "$disk"
run ferry-cbt-verify "$ferry" backup -r "$work/layout-verify" --name disk \
  --cbt "list:$work/changes-1.txt" --cbt-verify 1 "$disk"
run qemu-overlay sh -c "cd '$q' && qemu-img convert -t writeback -f raw -O qcow2 -B 0.qcow2 -F qcow2 '$disk' 1.qcow2"
cp --sparse=always "$work/day-4.img" "$disk"
run ferry-compare "$ferry" backup -r "$layout" --name disk "$disk"
run qemu-overlay2 sh -c "cd '$q' && qemu-img convert -t writeback -f raw -O qcow2 -B 1.qcow2 -F qcow2 '$disk' 2.qcow2"
set -- $(ids)
for id in "$@"; do qemu-img check -q "$layout/volumes/disk/$id.qcow2"; done
qemu-img compare -q -f raw "$work/day-1.img" "$layout/volumes/disk/$2.qcow2"
qemu-img compare -q -f raw "$work/day-4.img" "$layout/volumes/disk/$3.qcow2"
qemu-img compare -q -f raw "$work/day-4.img" "$q/2.qcow2"
size() { du -B1 "$1" | cut -f1; }
mib() { echo "scale=1; $1 / 1048576" | bc; }
s_ferry_cbt=$(size "$layout/volumes/disk/$2.qcow2") s_qemu_ov=$(size "$q/1.qcow2")
s_ferry_cmp=$(size "$layout/volumes/disk/$3.qcow2") s_qemu_ov2=$(size "$q/2.qcow2")

run ferry-forget "$ferry" forget -r "$layout" "$2"
run qemu-rebase sh -c "cd '$q' && qemu-img rebase -f qcow2 -b 0.qcow2 -F qcow2 2.qcow2 && rm 1.qcow2"
qemu-img check -q "$layout/volumes/disk/$3.qcow2"
qemu-img compare -q -f raw "$work/day-4.img" "$layout/volumes/disk/$3.qcow2"
qemu-img compare -q -f raw "$work/day-4.img" "$q/2.qcow2"

# Restores: the 4% day to a new file; the full backup over a copy of the 4% day, in place.
run ferry-restore "$ferry" restore -r "$layout" "$3" -t "$work/restored.raw" --overwrite
run qemu-restore qemu-img convert -t writeback -O raw "$layout/volumes/disk/$3.qcow2" "$work/restored-q.raw"
cmp "$work/restored.raw" "$work/day-4.img"
cmp "$work/restored-q.raw" "$work/day-4.img"
rollback() {  # rollback NAME CMD...: a copy of the 4% day rolled back to the full backup
  cp --sparse=always "$work/day-4.img" "$work/rollback.raw"
  run "$@"
  cmp "$work/rollback.raw" "$image"
}
rollback qemu-rollback qemu-img convert -t writeback -n -O raw "$layout/volumes/disk/$1.qcow2" "$work/rollback.raw"
rollback ferry-delta "$ferry" restore -r "$layout" "$1" -t "$work/rollback.raw" --delta
rollback ferry-delta-cbt "$ferry" restore -r "$layout" "$1" -t "$work/rollback.raw" --delta \
  --cbt "list:$work/changes-4.txt"
rm -f "$work/restored.raw" "$work/restored-q.raw" "$work/rollback.raw"

echo "| qcow2 layout, 2 GiB image | qemu-img | ferry | speed-up | size qemu / ferry |"
echo "| --- | ---: | ---: | ---: | ---: |"
row() {  # row LABEL QEMU-RUN FERRY-RUN [QEMU-FILE-SIZE FERRY-FILE-SIZE]
  local a b
  a=$(get "$2" 2) b=$(get "$3" 2)
  echo "| $1 | $a s | $b s | $(ratio "$a" "$b")× | ${4:+$(mib "$4") / $(mib "$5") MiB} |"
}
row "full image (convert -O qcow2 / backup)" qemu-full ferry-full "$(size "$q/0.qcow2")" \
  "$(size "$layout/volumes/disk/$1.qcow2")"
row "1% day, overlay (convert -B / backup --cbt list)" qemu-overlay ferry-cbt "$s_qemu_ov" "$s_ferry_cbt"
row "4% day, overlay (convert -B / backup, cluster compare)" qemu-overlay2 ferry-compare "$s_qemu_ov2" "$s_ferry_cmp"
row "forget the middle (rebase -b / forget)" qemu-rebase ferry-forget
row "restore to a new file (convert -O raw / restore)" qemu-restore ferry-restore
row "roll back the 4% day in place (convert -n / restore --delta)" qemu-rollback ferry-delta
row "... with the change list (convert -n / restore --delta --cbt)" qemu-rollback ferry-delta-cbt
echo
echo "1% day with --cbt-verify 1: $(get ferry-cbt-verify 2) s (without: $(get ferry-cbt 2) s)"
