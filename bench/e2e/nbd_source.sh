#!/usr/bin/env bash
# Backing up a volume through NBD, the way a running VM's disk is read: the realistic image
# exported read-only by qemu-nbd on a unix socket. In alternating rounds, with caches dropped
# before each: ferry's full backup from the file, ferry's full backup from the export (qemu-nbd
# as it comes, and "direct": --cache=none --aio=io_uring), and
# `qemu-img convert` of the export to a QCOW2 file (what qemu-img-based VM backups do; plain and
# with zstd clusters). The export's server CPU is qemu-nbd's, read from /proc before it stops.
# With FERRY_BENCH_BASELINE=BINARY, another ferry (an older build) also backs up the export.
# Prints a markdown table of medians.
#   bench/e2e/nbd_source.sh [WORKDIR] [ROUNDS]   (default /var/tmp/ferry-e2e, 3; ~6 GB; root)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-/var/tmp/ferry-e2e}
rounds=${2:-3}
source bench/e2e/lib.sh
: >"$work/times"
export FERRY_PASSWORD=bench
sock=$work/nbd.sock
uri="nbd+unix:///?socket=$sock"
qemu_pid=

serve() {  # serve [QEMU-NBD OPTION...]: export $image read-only on $sock until stop_serving
  rm -f "$sock"
  qemu-nbd -r -f raw -t "$@" -k "$sock" "$image" &
  qemu_pid=$!
  while [[ ! -S $sock ]]; do sleep 0.05; done
}
# stop_serving NAME: records qemu-nbd's CPU seconds as NAME in $work/times, and stops it.
stop_serving() {
  local ticks
  ticks=$(awk '{print $14 + $15}' "/proc/$qemu_pid/stat")
  echo "$1 0 0 $(echo "scale=2; $ticks / $(getconf CLK_TCK)" | bc)" >>"$work/times"
  kill "$qemu_pid"
  wait "$qemu_pid" 2>/dev/null || true
}
trap '[[ -n $qemu_pid ]] && kill "$qemu_pid" 2>/dev/null; true' EXIT
fresh_repo() { rm -rf "$work/nbd-repo" && "$ferry" init -r "$work/nbd-repo" >/dev/null 2>&1; }

for round in $(seq "$rounds"); do
  fresh_repo
  run "ferry-file.$round" "$ferry" backup -r "$work/nbd-repo" --name disk "$image"
  fresh_repo
  serve
  run "ferry-nbd.$round" "$ferry" backup -r "$work/nbd-repo" --name disk "$uri"
  stop_serving "ferry-nbd-server.$round"
  fresh_repo
  serve --cache=none --aio=io_uring
  run "ferry-nbd-direct.$round" "$ferry" backup -r "$work/nbd-repo" --name disk "$uri"
  stop_serving "ferry-nbd-direct-server.$round"
  if [[ -n ${FERRY_BENCH_BASELINE:-} ]]; then
    fresh_repo
    serve
    run "baseline-nbd.$round" "$FERRY_BENCH_BASELINE" backup -r "$work/nbd-repo" --name disk "$uri"
    stop_serving "baseline-nbd-server.$round"
  fi
  rm -f "$work/nbd-copy.qcow2"
  serve
  run "qemu-plain.$round" qemu-img convert -t writeback -O qcow2 "$uri" "$work/nbd-copy.qcow2"
  stop_serving "qemu-plain-server.$round"
  rm -f "$work/nbd-copy.qcow2"
  serve
  run "qemu-zstd.$round" qemu-img convert -t writeback -O qcow2 -c -o compression_type=zstd "$uri" \
    "$work/nbd-copy.qcow2"
  stop_serving "qemu-zstd-server.$round"
done
# The last repository holds the export's backup: it must restore to the image.
"$ferry" restore -r "$work/nbd-repo" latest -t "$work/nbd-restored.img" >/dev/null 2>&1
cmp "$image" "$work/nbd-restored.img"
qemu-img compare -q -f raw "$image" "$work/nbd-copy.qcow2"
rm -f "$work/nbd-restored.img" "$work/nbd-copy.qcow2"

# median NAME FIELD: the median over the rounds of FIELD (2 wall, 3 RSS, 4 CPU).
median() {
  local i
  for i in $(seq "$rounds"); do get "$1.$i" "$2"; done | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}
echo "| full backup of the 2 GiB image ($rounds rounds, medians) | wall s | CPU s | qemu-nbd CPU s |"
echo "| --- | ---: | ---: | ---: |"
kinds=(ferry-file ferry-nbd ferry-nbd-direct)
[[ -n ${FERRY_BENCH_BASELINE:-} ]] && kinds+=(baseline-nbd)
for kind in "${kinds[@]}" qemu-plain qemu-zstd; do
  server=$([[ $kind == ferry-file ]] && echo "–" || median "$kind-server" 4)
  echo "| $kind | $(median "$kind" 2) | $(median "$kind" 4) | $server |"
done
