#!/usr/bin/env bash
# Backup and restore throughput of the realistic image through each transport on loopback,
# beside the local target, in one run. Rounds are interleaved (each round runs every transport
# once, starting one further along the list each time), and a transport's ratio to local is
# taken within a round, against the local run minutes away: the table gives the median of those
# ratios and their range, which is what survives this kind of shared, noisy machine.
#   local      a directory on the same disk as the servers' data
#   s3         s3rver on 127.0.0.1 (the transport alone)
#   s3-signed  the same through our SigV4-checking front end (tests/servers/s3_front.py)
#   rgw        Ceph's radosgw (C++) on a one-node cluster, its OSD on BlueStore in a file on the
#              same disk (tests/servers/rgw_server.sh): an S3 server built for throughput
#   nfs        nfs-ganesha (VFS) on 127.0.0.2, NFSv3 through libnfs; the whole benchmark runs in
#              the private network namespace tests/servers/with_nfs.sh makes
# Every restore is compared with the image. Also prints the CPU the S3 server used: on a small
# machine it shares the cores with ferry. Prints a markdown table.
#   bench/e2e/transports.sh [WORKDIR]     (default /var/tmp/ferry-e2e; ~8 GB free; root)
# Environment: FERRY_BENCH_ROUNDS (default 3); FERRY_BENCH_TRANSPORTS, a subset of the list
# below (default all; local is always run, since every ratio is to it).
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-/var/tmp/ferry-e2e}
if [[ -z "${FERRY_NFS_URI:-}" ]]; then
  # The NFS export on the same disk as the local repository.
  mkdir -p "$work"
  TMPDIR=$work exec bash tests/servers/with_nfs.sh bash "$0" "$@"
fi
source bench/e2e/lib.sh
: >"$work/times"
export FERRY_PASSWORD=bench
state=$work/s3-server
rgw_state=$work/rgw-server
rounds=${FERRY_BENCH_ROUNDS:-3}
backends=(local)
for b in ${FERRY_BENCH_TRANSPORTS:-s3 s3-signed rgw nfs}; do
  case $b in
    local) ;;
    s3 | s3-signed | rgw | nfs) backends+=("$b") ;;
    *) echo "FERRY_BENCH_TRANSPORTS: unknown transport '$b' (known: local s3 s3-signed rgw nfs)" >&2; exit 2 ;;
  esac
done
uses_rgw=false
[[ " ${backends[*]} " == *" rgw "* ]] && uses_rgw=true

rm -rf "$state" "$rgw_state" "$work"/repo-local
bash tests/servers/s3_server.sh start "$state" >/dev/null
trap 'bash tests/servers/s3_server.sh stop "$state"; bash tests/servers/rgw_server.sh stop "$rgw_state"' EXIT
set -a
if $uses_rgw; then
  FERRY_RGW_STORE=bluestore bash tests/servers/rgw_server.sh start "$rgw_state" >/dev/null
  source "$rgw_state/env"  # Its keys first: the S3 server's env sets the same variables after.
  rgw_key=$AWS_ACCESS_KEY_ID rgw_secret=$AWS_SECRET_ACCESS_KEY
  rgw_pids="$(cat "$rgw_state/rgw.pid") $(cat "$rgw_state/osd.pid") $(cat "$rgw_state/mon.pid")"
fi
source "$state/env"
set +a
FERRY_S3_ACCESS_KEY=$AWS_ACCESS_KEY_ID FERRY_S3_SECRET_KEY=$AWS_SECRET_ACCESS_KEY
node_pid=$(cat "$state/s3rver.pid")
cpu_ticks() { local p t=0; for p in "$@"; do t=$(( t + $(awk '{print $14 + $15}' "/proc/$p/stat") )); done; echo $t; }

for round in $(seq "$rounds"); do
  # A fresh repository per run: every backup is a first, full one.
  declare -A repo=(
    [local]=$work/repo-local
    [s3]="s3://$FERRY_S3_BUCKET/bench-$round?endpoint=$FERRY_S3_DIRECT_ENDPOINT"
    [s3-signed]="s3://$FERRY_S3_BUCKET/bench-signed-$round?endpoint=$FERRY_S3_ENDPOINT"
    [rgw]="s3://${FERRY_RGW_PLAIN_BUCKET:-}/bench-$round?endpoint=${FERRY_RGW_ENDPOINT:-}"
    [nfs]="$FERRY_NFS_URI/bench-$round"
  )
  # Start one further along each round, so no transport always runs first or after the same one.
  n=${#backends[@]}
  for (( i = 0; i < n; ++i )); do
    b=${backends[$(( (i + round - 1) % n ))]}
    rm -rf "$work/repo-local"
    export AWS_ACCESS_KEY_ID=$FERRY_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$FERRY_S3_SECRET_KEY
    server_pids=$node_pid
    case $b in
      nfs) server_pids=$FERRY_NFS_SERVER_PID ;;
      rgw) server_pids=$rgw_pids
           export AWS_ACCESS_KEY_ID=$rgw_key AWS_SECRET_ACCESS_KEY=$rgw_secret ;;
    esac
    "$ferry" init -r "${repo[$b]}" >/dev/null
    # shellcheck disable=SC2086
    t0=$(cpu_ticks $server_pids)
    run "$b-backup-$round" "$ferry" backup -r "${repo[$b]}" --name disk "$image"
    # shellcheck disable=SC2086
    t1=$(cpu_ticks $server_pids)
    rm -f "$work/restored.img"
    run "$b-restore-$round" "$ferry" restore -r "${repo[$b]}" latest --target "$work/restored.img"
    # shellcheck disable=SC2086
    t2=$(cpu_ticks $server_pids)
    cmp "$image" "$work/restored.img"
    grep -q "new 1\.[0-9]* GiB" "$work/log.$b-backup-$round" || { echo "not a full backup:"; cat "$work/log.$b-backup-$round"; exit 1; }
    echo "$b-server-cpu-$round $(( t1 - t0 )) $(( t2 - t1 ))" >>"$work/times"
  done
done

# Over the rounds: the fastest time; and the median and range of the per-round ratios to local.
best() { local r; for r in $(seq "$rounds"); do get "$1-$r" 2; done | sort -g | head -1; }
ratios() {  # ratios TRANSPORT OP: "median% (min–max%)" of 100 * local / TRANSPORT over the rounds.
  local r
  [[ $1 == local ]] && { echo "100%"; return; }
  for r in $(seq "$rounds"); do
    echo "scale=4; 100 * $(get "local-$2-$r" 2) / $(get "$1-$2-$r" 2)" | bc
  done | sort -g | awk '{v[NR] = $1}
    END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
         if (NR == 1) printf "%.0f%%", m; else printf "%.0f%% (%.0f–%.0f%%)", m, v[1], v[NR]}'
}
size_mib=$(( $(stat -c %s "$image") >> 20 ))
rate() { echo "scale=0; $size_mib / $1" | bc; }
echo "$rounds rounds; fastest time of each, and the median (range) over the rounds of its ratio to local in the same round"
echo
echo "| transport, $size_mib MiB image | backup s | MiB/s | vs local | restore s | MiB/s | vs local | ferry CPU s (backup / restore) | server CPU s | ferry peak RSS MiB (backup / restore) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
last=$rounds
for b in "${backends[@]}"; do
  bb=$(best "$b-backup") br=$(best "$b-restore")
  server=$(awk -v n="$b-server-cpu-$last" '$1 == n {printf "%.1f / %.1f", $2 / 100, $3 / 100}' "$work/times")
  [[ $b == local ]] && server="-"
  echo "| $b | $bb | $(rate "$bb") | $(ratios "$b" backup) | $br | $(rate "$br") |" \
    "$(ratios "$b" restore) | $(get "$b-backup-$last" 4) / $(get "$b-restore-$last" 4) | $server |" \
    "$(( $(get "$b-backup-$last" 3) >> 10 )) / $(( $(get "$b-restore-$last" 3) >> 10 )) |"
done
