#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs dependencies, checks formatting, builds with
# warnings as errors, runs every test in release, smoke-runs the benchmarks so they cannot rot,
# fuzzes each fuzz target briefly, runs the threaded tests under TSan, and runs every test again
# under ASan+UBSan (last, so CTest's summary closes the output).
#   scripts/test.sh [--quick]    (--quick: release build and tests only)
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[[ "${1:-}" == "--quick" ]] && quick=1

bash scripts/install-deps.sh

echo "== format check"
mapfile -t sources < <(git ls-files '*.cc' '*.h' 2>/dev/null || find . -name '*.cc' -o -name '*.h')
clang-format --dry-run --Werror "${sources[@]}"

echo "== release build"
bash scripts/build.sh release
echo "== release tests"
ctest --preset release -j"$(nproc)"

if [[ $quick -eq 1 ]]; then exit 0; fi

echo "== benchmark smoke run"
./build/release/bench/ferry_bench --benchmark_min_time=0.01 \
  --benchmark_filter='BM_(FastCdc2020|Fixed|HmacSha256|Xxh3_64|ZstdCompress|AesGcmSeal)/' \
  >/dev/null

echo "== fuzz smoke run (libFuzzer, ${FERRY_FUZZ_SECONDS:-20} s per target)"
bash scripts/build.sh fuzz
for source in tests/fuzz/*_fuzz.cc; do
  target=$(basename "$source" _fuzz.cc)
  corpus=$(mktemp -d)
  cp -r "tests/data/fuzz-seeds/$target/." "$corpus/"
  # Past crashers too: the fuzz build's UBSan catches some (float casts) the ASan preset's does not.
  if [[ -d tests/data/fuzz-regressions/$target ]]; then
    cp -r "tests/data/fuzz-regressions/$target/." "$corpus/"
  fi
  ./build/fuzz/tests/fuzz/${target}_fuzz -max_total_time="${FERRY_FUZZ_SECONDS:-20}" \
    -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="build/fuzz/${target}-" "$corpus" \
    2>"build/fuzz/${target}.log" || { tail -30 "build/fuzz/${target}.log"; exit 1; }
  echo "   $target: $(grep -o 'stat::number_of_executed_units: [0-9]*' "build/fuzz/${target}.log" \
    || tail -1 "build/fuzz/${target}.log")"
  rm -rf "$corpus"
done

echo "== ThreadSanitizer (clang): the multithreaded engine, I/O queue and transport tests"
cmake --preset tsan >/dev/null
cmake --build --preset tsan --target engine_test io_test transport_test transport_conformance_test \
  -- -j"$(nproc)"
for t in engine/engine_test engine/io/io_test transports/transport_test; do
  TSAN_OPTIONS=halt_on_error=1:exitcode=66 "./build/tsan/$t" --gtest_brief=1 ||
    { echo "ThreadSanitizer run of $t failed"; exit 1; }
done
# Every backend, with its server up (the HTTP client's loop thread and the callers').
TSAN_OPTIONS=halt_on_error=1:exitcode=66 bash tests/servers/with_s3.sh \
  ./build/tsan/transports/transport_conformance_test --gtest_brief=1 ||
  { echo "ThreadSanitizer run of transport_conformance_test (S3) failed"; exit 1; }
TSAN_OPTIONS=halt_on_error=1:exitcode=66 bash tests/servers/with_nfs.sh \
  ./build/tsan/transports/transport_conformance_test --gtest_brief=1 \
  --gtest_filter='*/Nfs:*/NfsLossy:NfsTransportTest.*' ||
  { echo "ThreadSanitizer run of transport_conformance_test (NFS) failed"; exit 1; }
echo "ThreadSanitizer: no data races"

echo "== ASan+UBSan build"
bash scripts/build.sh asan
echo "== ASan+UBSan tests"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --preset asan -j"$(nproc)"

