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

# The I/O benchmark creates the file on first use; fio then reads the same file.
./build/release/bench/ferry_bench --benchmark_filter='BM_IoRead' \
  --benchmark_out="$out/io.json" --benchmark_out_format=json >"$out/io.txt" 2>&1
for spec in "read 1M" "randread 4k" "read 4k" "randread 1M"; do
  set -- $spec
  fio --name="$1-$2" --filename="$file" --rw="$1" --bs="$2" --iodepth=32 --ioengine=io_uring \
    --direct=1 --runtime=4 --time_based --group_reporting >"$out/fio-uring-$1-$2.txt" 2>&1
done
echo "results in $out"
