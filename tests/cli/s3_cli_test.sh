#!/usr/bin/env bash
# The CLI against S3: s3rver behind our signature-checking front end, and a second front end
# that fails, resets and delays a share of requests. Run through tests/servers/with_s3.sh.
# Usage: s3_cli_test.sh FERRY_BINARY
set -u
ferry=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/transport_lib.sh"
[[ -n "${FERRY_S3_ENDPOINT:-}" ]] || { echo "FAIL: no S3 test server (run through tests/servers/with_s3.sh)"; exit 1; }

export FERRY_PASSWORD=correct-horse
repo="s3://$FERRY_S3_BUCKET/cli-$$/repo?endpoint=$FERRY_S3_ENDPOINT"

# --- the main path -----------------------------------------------------------------------
round_trip "$repo" S3
# Restores read S3 in 16 MiB windows with at least four workers (engine/restore_test.cc shows larger
# windows make fewer ranged reads; how many here depends on how the backup's workers filled
# the packs).
"$ferry" restore -r "$repo" latest -t "$tmp/shape.img" --json >"$tmp/shape.json" 2>/dev/null
check "an S3 restore reads 16 MiB windows" python3 - "$tmp/shape.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["window"] == 16 << 20 and r["threads"] >= 4 and r["pack_reads"] > 0, r
PY
check "... byte-exact" cmp -s "$tmp/vol.img" "$tmp/shape.img"
# To a pipe: the same windows and workers, written in volume order.
"$ferry" restore -r "$repo" latest -t - 2>"$tmp/err" | cat >"$tmp/stream.img"
check "an S3 restore to a pipe is byte-exact" cmp -s "$tmp/vol.img" "$tmp/stream.img"

# --- a server that fails, resets and delays requests ---------------------------------------
faulty="s3://$FERRY_S3_BUCKET/cli-$$/faulty?endpoint=$FERRY_S3_FAULTY_ENDPOINT"
faults() {  # FRONT: the faults it has injected so far
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["fail"]+d["slowdown"]+d["reset"]+d["lost"])' \
    "$FERRY_S3_STATE/$1-stats.json" 2>/dev/null || echo 0
}
before=$(faults faulty)
"$ferry" init -r "$faulty" >/dev/null 2>"$tmp/err" &&
  "$ferry" backup -r "$faulty" "$tmp/vol.first" >/dev/null 2>"$tmp/err" &&
  "$ferry" backup -r "$faulty" "$tmp/vol.img" >/dev/null 2>"$tmp/err" &&
  "$ferry" restore -r "$faulty" latest -t "$tmp/faulty.img" >/dev/null 2>"$tmp/err"
check "backups and restores ride out a faulty server" cmp -s "$tmp/vol.img" "$tmp/faulty.img"
"$ferry" restore -r "$faulty" latest -t - 2>"$tmp/err" | cat >"$tmp/faulty-stream.img"
check "... to a pipe too" cmp -s "$tmp/vol.img" "$tmp/faulty-stream.img"
"$ferry" check -r "$faulty" --read-data >/dev/null 2>&1
check "check --read-data passes after the faulty server" test $? -eq 0
after=$(faults faulty)
check "faults were injected ($((after - before)))" test $((after - before)) -gt 5

# --- a server that loses the answer to every publication's first sending -------------------
# Each PUT and upload completion is done, its answer lost, and sent again: a create-if-absent
# PUT then meets its own object, a completion finds its upload gone. With 96 MiB packs, the
# 80 MiB of incompressible data fill one pack that goes up in parts.
lossy="s3://$FERRY_S3_BUCKET/cli-$$/lossy?endpoint=$FERRY_S3_LOSSY_ENDPOINT"
head -c 80M /dev/urandom >"$tmp/random.img"
before=$(faults lossy)
"$ferry" init -r "$lossy" --pack-size 96 >/dev/null 2>"$tmp/err"
check "init succeeds though its answers are lost" test $? -eq 0
"$ferry" backup -r "$lossy" "$tmp/random.img" >/dev/null 2>"$tmp/err" &&
  "$ferry" restore -r "$lossy" latest -t "$tmp/random.out" >/dev/null 2>>"$tmp/err"
check "a pack sent in parts rides out a lost completion" cmp -s "$tmp/random.img" "$tmp/random.out"
rm -f "$tmp/random.img" "$tmp/random.out"
lossy_round "$lossy" S3
after=$(faults lossy)
check "answers were lost ($((after - before)))" test $((after - before)) -gt 5

# --- errors that must be final and clear -------------------------------------------------------
start=$(date +%s.%N)
AWS_SECRET_ACCESS_KEY=not-the-secret "$ferry" snapshots -r "$repo" >/dev/null 2>"$tmp/err"
rc=$?
elapsed=$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$start" "$(date +%s.%N)")
check "a wrong secret fails" test $rc -ne 0
check "a wrong secret is named" grep -q "SignatureDoesNotMatch.*secret key" "$tmp/err"
check "a wrong secret fails fast (${elapsed}s)" python3 -c "import sys; sys.exit(float(sys.argv[1]) > 3)" "$elapsed"
"$ferry" snapshots -r "s3://no-such-bucket/x?endpoint=$FERRY_S3_ENDPOINT" >/dev/null 2>"$tmp/err"
check "a missing bucket is named" grep -q "NoSuchBucket.*create bucket 'no-such-bucket' first" "$tmp/err"
"$ferry" snapshots -r "s3://$FERRY_S3_BUCKET/cli-$$/nothing?endpoint=$FERRY_S3_ENDPOINT" >/dev/null 2>"$tmp/err"
check "an empty prefix is not a repository" grep -q "no ferry repository at s3://$FERRY_S3_BUCKET/cli-$$/nothing (no config; run ferry init first)" "$tmp/err"
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_SHARED_CREDENTIALS_FILE=$tmp/none HOME=$tmp \
  "$ferry" snapshots -r "$repo" >/dev/null 2>"$tmp/err"
check "missing credentials are named" grep -q "AWS_ACCESS_KEY_ID" "$tmp/err"
"$ferry" snapshots -r "s3://$FERRY_S3_BUCKET/x?endpoint=http://127.0.0.1:9" >/dev/null 2>"$tmp/err"
check "an unreachable server is named" grep -q "cannot reach s3://$FERRY_S3_BUCKET/x at http://127.0.0.1:9" "$tmp/err"
"$ferry" init -r "s3://$FERRY_S3_BUCKET/cli-$$/locked?endpoint=$FERRY_S3_ENDPOINT" --object-lock-days 7 >/dev/null 2>"$tmp/err"
check "Object Lock on a server without it is refused" grep -q "does not implement Object Lock\|does not have Object Lock enabled" "$tmp/err"
"$ferry" snapshots -r "s3://$FERRY_S3_BUCKET/cli-$$/locked?endpoint=$FERRY_S3_ENDPOINT" >/dev/null 2>"$tmp/err"
check "... and nothing is written" grep -q "no ferry repository at" "$tmp/err"
"$ferry" snapshots -r "s3://$FERRY_S3_BUCKET/x?endpoint=ftp://h" >/dev/null 2>"$tmp/err"
check "a malformed URI is named" grep -q "endpoint 'ftp://h' is not http(s)://HOST\[:PORT\]" "$tmp/err"

# --- SIGKILL during a backup: nothing earlier is lost ----------------------------------------
killed_backup "$repo" "$FERRY_S3_STATE/data"
prune_round "$repo" S3
check "prune says s3rver cannot list a killed backup's unfinished uploads" \
  grep -q "note: the S3 server at .* does not list unfinished multipart uploads (HTTP 501 NotImplemented); a bucket lifecycle rule" "$tmp/prune.out"

finish "S3 CLI"
