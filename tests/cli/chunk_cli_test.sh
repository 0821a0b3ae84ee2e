#!/usr/bin/env bash
# End-to-end test of `ferry chunk`: output formats, agreement with the published vectors, errors
# and exit codes. Usage: chunk_cli_test.sh FERRY_BINARY TEST_DATA_DIR
set -u
ferry=$1
data=$2
source "$(cd "$(dirname "$0")" && pwd)/lib.sh"

# The published fastcdc-rs v2020 vector (16 KiB average, level 1).
"$ferry" chunk --min 4096 --avg 16384 --max 65535 "$data/fastcdc/SekienAkashita.jpg" \
  >"$tmp/lines" 2>"$tmp/err"
check "text exit 0" test $? -eq 0
check "text lengths match the vector" \
  test "$(cut -f2 "$tmp/lines" | tr '\n' ' ')" = "21325 17140 28084 18217 24700 "
check "text offsets match the vector" \
  test "$(cut -f1 "$tmp/lines" | tr '\n' ' ')" = "0 21325 38465 66549 84766 "
check "summary on stderr" grep -q '^ferry: 5 chunks, mean 21.38 KiB' "$tmp/err"

# The XXH3 column agrees with xxhsum when it is installed (an independent implementation).
if command -v xxhsum >/dev/null; then
  first_len=$(head -1 "$tmp/lines" | cut -f2)
  expect=$(head -c "$first_len" "$data/fastcdc/SekienAkashita.jpg" | xxhsum -H3 | sed 's/.*= //')
  check "xxh3 column equals xxhsum -H3" test "$(head -1 "$tmp/lines" | cut -f3)" = "$expect"
fi

# JSON: one object, same chunks, from standard input too.
"$ferry" chunk --json --min 4096 --avg 16384 --max 65535 - <"$data/fastcdc/SekienAkashita.jpg" \
  >"$tmp/json" 2>/dev/null
check "json exit 0" test $? -eq 0
check "json parses and matches" python3 - "$tmp/json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
assert [c["length"] for c in doc["chunks"]] == [21325, 17140, 28084, 18217, 24700], doc
assert doc["summary"]["count"] == 5 and doc["summary"]["bytes"] == 109466, doc["summary"]
PY

# Fixed-size chunking of a pipe.
head -c 10000 /dev/zero | "$ferry" chunk --algo fixed --avg 4096 - >"$tmp/fixed" 2>/dev/null
check "fixed chunks of a pipe" test "$(cut -f2 "$tmp/fixed" | tr '\n' ' ')" = "4096 4096 1808 "

# Errors: clear message, non-zero exit, nothing on stdout.
"$ferry" chunk "$tmp/missing" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "missing file exits 1" test $rc -eq 1
check "missing file names the path" grep -q "^ferry: open $tmp/missing: No such file or directory$" "$tmp/err"
"$ferry" chunk --min 9000 --avg 8192 "$data/fastcdc/SekienAkashita.jpg" >/dev/null 2>"$tmp/err"
check "bad sizes exit 2" test $? -eq 2
check "bad sizes explained" grep -q "min < avg < max (got min 9000, avg 8192, max 32768)" "$tmp/err"
"$ferry" chunk --algo rabin x >/dev/null 2>"$tmp/err"
check "unknown algorithm exits 2" test $? -eq 2
"$ferry" chunk >/dev/null 2>&1
check "missing argument exits 2" test $? -eq 2
FERRY_IO_BACKEND=bogus "$ferry" chunk "$data/fastcdc/SekienAkashita.jpg" >/dev/null 2>"$tmp/err"
check "bad backend exits 2" test $? -eq 2

finish "chunk CLI"
