#!/usr/bin/env bash
# One sitting of the micro-benchmarks next to this machine's limits, as recorded in
# bench/RESULTS.md: ferry_bench (medians of interleaved repetitions), openssl speed, zstd -b and
# fio on the same 1 GiB file as the I/O benchmark. Writes everything under OUT (default
# build/bench-results).
#   bench/run-micro.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/bench-results}
mkdir -p "$out"
bash scripts/install-deps.sh --bench
bash scripts/build.sh release >/dev/null
file=${FERRY_BENCH_FILE:-/var/tmp/ferry-bench-1g.bin}
export FERRY_BENCH_FILE=$file

{ uname -r; grep -m1 'model name' /proc/cpuinfo; nproc; } >"$out/machine.txt"

./build/release/bench/ferry_bench --benchmark_filter='BM_(FastCdc|Fixed|Hmac|Xxh3|Zstd|AesGcm)' \
  --benchmark_repetitions=9 --benchmark_enable_random_interleaving=true \
  --benchmark_report_aggregates_only=true --benchmark_min_time=0.2 \
  --benchmark_out="$out/cpu.json" --benchmark_out_format=json >"$out/cpu.txt" 2>&1

openssl speed -seconds 2 -evp sha256 >"$out/openssl-sha256.txt" 2>&1
openssl speed -seconds 2 -evp aes-256-gcm >"$out/openssl-aes-gcm.txt" 2>&1

# zstd's own benchmark on text like TextData() (64 MiB), in 256 KiB blocks, levels 1 and 3.
python3 - "$out/text.bin" <<'PY'
import random, sys
words = ("backup volume the snapshot of restore a block chunk index pack server and data file "
         "system host record site database night replica changed written").split()
r = random.Random(2); out = []; n = 0
while n < 64 << 20:
    line = " ".join(r.choice(words) for _ in range(14)) + ".\n"; out.append(line); n += len(line)
open(sys.argv[1], "w").write("".join(out)[: 64 << 20])
PY
zstd -b1 -e3 -B262144 "$out/text.bin" >"$out/zstd.txt" 2>&1
rm -f "$out/text.bin"

# The I/O benchmark creates the file on first use. The device is the noise here, so ferry and
# fio (same file, same depth) alternate, three rounds per pattern.
./build/release/bench/ferry_bench --benchmark_filter='BM_IoRead' \
  --benchmark_out="$out/io.json" --benchmark_out_format=json >"$out/io.txt" 2>&1
: >"$out/io-vs-fio.txt"
for spec in "0 4096 randread 4k" "1 4096 read 4k" "0 1048576 randread 1M" "1 1048576 read 1M"; do
  set -- $spec
  seq_arg=$(( $1 == 1 ? 0 : 1 ))
  for round in 1 2 3; do
    for eager in 0 1; do
      ours=$(./build/release/bench/ferry_bench --benchmark_min_time=3 \
        --benchmark_filter="BM_IoRead/psync:0/random:$seq_arg/block:$2/eager:$eager/fixed:0/" 2>/dev/null |
        grep -o 'bytes_per_second=[0-9.]*[kMG]' | sed 's/bytes_per_second=//')
      echo "$3 $4 round $round ferry eager=$eager $ours/s" >>"$out/io-vs-fio.txt"
    done
    fio --name=x --filename="$file" --rw="$3" --bs="$4" --iodepth=32 --ioengine=io_uring \
      --direct=1 --runtime=3 --time_based 2>/dev/null | grep -oE 'BW=[0-9.]+[MG]iB/s' | head -1 |
      sed "s|^|$3 $4 round $round fio |" >>"$out/io-vs-fio.txt"
  done
done
echo "results in $out"
