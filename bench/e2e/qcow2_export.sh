#!/usr/bin/env bash
# QCOW2 export: `ferry restore --format qcow2` from a repository against `qemu-img convert -O
# qcow2` from the raw image, uncompressed and with zstd clusters, on the realistic image, in one
# run with caches dropped before each (qemu-img with `-t writeback`: its default, `unsafe`, never
# flushes, while ferry returns with its image durable). Both outputs are checked with qemu-img
# check and compare; sizes are the files' allocated bytes. Prints a markdown table.
#   bench/e2e/qcow2_export.sh [WORKDIR]     (default /var/tmp/ferry-e2e; ~8 GB free; root)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-/var/tmp/ferry-e2e}
source bench/e2e/lib.sh
: >"$work/times"
export FERRY_PASSWORD=bench
repo=$work/qcow2-repo
rm -rf "$repo" "$work"/export-*.qcow2
"$ferry" init -r "$repo" >/dev/null 2>&1
"$ferry" backup -r "$repo" --name disk "$image" >/dev/null 2>&1

run qemu-plain qemu-img convert -t writeback -f raw -O qcow2 "$image" "$work/export-qemu.qcow2"
run ferry-plain "$ferry" restore -r "$repo" latest --format qcow2 -t "$work/export-ferry.qcow2"
run qemu-zstd qemu-img convert -t writeback -f raw -O qcow2 -c -o compression_type=zstd "$image" \
  "$work/export-qemu-zstd.qcow2"
run ferry-zstd "$ferry" restore -r "$repo" latest --format qcow2 --compress zstd \
  -t "$work/export-ferry-zstd.qcow2"
for f in qemu ferry qemu-zstd ferry-zstd; do
  qemu-img check -q "$work/export-$f.qcow2"
  qemu-img compare -q -f raw "$image" "$work/export-$f.qcow2"
done
size() { du -B1 "$work/export-$1.qcow2" | cut -f1; }
mib() { echo "scale=1; $1 / 1048576" | bc; }

echo "| export of the 2 GiB image | qemu-img convert | ferry restore --format qcow2 | speed-up | size qemu / ferry |"
echo "| --- | ---: | ---: | ---: | ---: |"
for kind in plain zstd; do
  suffix=$([[ $kind == plain ]] && echo "" || echo "-zstd")
  q=$(get "qemu-$kind" 2) f=$(get "ferry-$kind" 2)
  echo "| $kind | $q s | $f s | $(ratio "$q" "$f")× | $(mib "$(size "qemu$suffix")") / $(mib "$(size "ferry$suffix")") MiB |"
done
