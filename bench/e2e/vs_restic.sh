#!/usr/bin/env bash
# ferry against restic on a realistic volume image, side by side in one run, both encrypted:
# full backup, restore, repository size and peak RSS; then ferry on the same image grown to
# 20 GiB with a sparse tail, to show memory stays flat. Prints a markdown table.
#   bench/e2e/vs_restic.sh [WORKDIR]     (default /var/tmp/ferry-e2e; needs ~8 GB free; root)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-/var/tmp/ferry-e2e}
source bench/e2e/lib.sh
: >"$work/times"
export FERRY_PASSWORD=bench RESTIC_PASSWORD=bench

rm -rf "$work/ferry-repo" "$work/restic-repo" "$work/ferry-out.img" "$work/restic-out"
"$ferry" init -r "$work/ferry-repo" >/dev/null 2>&1
restic init -r "$work/restic-repo" >/dev/null 2>&1

run ferry-backup "$ferry" backup -r "$work/ferry-repo" "$image"
run restic-backup restic -r "$work/restic-repo" backup --compression auto "$image"
run ferry-restore "$ferry" restore -r "$work/ferry-repo" latest -t "$work/ferry-out.img"
run restic-restore restic -r "$work/restic-repo" restore latest --target "$work/restic-out"
# ferry fsyncs what it restored before it exits; restic does not, so its data still has to
# reach the disk: time that right after it.
start=$(date +%s.%N); sync; sync_s=$(echo "$(date +%s.%N) - $start" | bc)
cmp "$image" "$work/ferry-out.img"
cmp "$image" "$work/restic-out$image"

# Flatness: the same image with a 18 GiB sparse tail.
big=$work/ext4-20g.img
cp --reflink=auto --sparse=always "$image" "$big"
truncate -s 20G "$big"
rm -rf "$work/ferry-repo-20g"
"$ferry" init -r "$work/ferry-repo-20g" >/dev/null 2>&1
run ferry-backup-20g "$ferry" backup -r "$work/ferry-repo-20g" "$big"

size_of() { du -sb "$1" | cut -f1; }
ferry_size=$(size_of "$work/ferry-repo")
restic_size=$(size_of "$work/restic-repo")
data=$(du -B1 "$image" | cut -f1)

echo "image: 2 GiB ext4 of /usr/share, /usr/bin, /usr/include ($(numfmt --to=iec "$data") allocated); $(nproc) cores; $(uname -r)"
echo
echo "| | ferry | restic $(restic version | awk '{print $2}') | ferry / restic |"
echo "| --- | --- | --- | --- |"
echo "| full backup, s | $(get ferry-backup 2) | $(get restic-backup 2) | $(ratio "$(get restic-backup 2)" "$(get ferry-backup 2)")× faster |"
echo "| restore, s | $(get ferry-restore 2) (fsync included) | $(get restic-restore 2) + ${sync_s} sync | $(ratio "$(echo "$(get restic-restore 2) + $sync_s" | bc)" "$(get ferry-restore 2)")× faster |"
echo "| repository, bytes | $ferry_size | $restic_size | $(ratio "$ferry_size" "$restic_size") |"
echo "| peak RSS backup, MiB | $(( $(get ferry-backup 3) / 1024 )) | $(( $(get restic-backup 3) / 1024 )) | |"
echo "| peak RSS restore, MiB | $(( $(get ferry-restore 3) / 1024 )) | $(( $(get restic-restore 3) / 1024 )) | |"
echo "| ferry first backup of the same image grown to 20 GiB (sparse), s / peak RSS MiB | $(get ferry-backup-20g 2) / $(( $(get ferry-backup-20g 3) / 1024 )) | | |"
rm -rf "$big" "$work/ferry-out.img" "$work/restic-out" "$work/ferry-repo-20g"
