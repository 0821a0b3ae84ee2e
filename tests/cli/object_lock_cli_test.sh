#!/usr/bin/env bash
# S3 Object Lock end to end, against Ceph's radosgw (run through tests/servers/with_rgw.sh):
# init refuses where objects cannot be locked; backups lock every object but locks, prune
# records and indexes (checked with boto3, not our own client, and the server itself refuses to
# delete); forget keeps locked snapshots; prune never deletes a locked pack, deletes (the
# version, not just a delete marker) what is unused once its lock ends, and extends the lock
# of what live snapshots use, and aborts the unfinished upload a killed writer left once it is
# stale (but not before). Retentions are shortened with a governance bypass to stand for
# days passing. Usage: object_lock_cli_test.sh FERRY_BINARY
set -u
ferry=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
[[ -n "${FERRY_RGW_ENDPOINT:-}" ]] || { echo "FAIL: no Object Lock server (run through tests/servers/with_rgw.sh)"; exit 1; }
locks() { /usr/bin/python3 "$here/object_lock_check.py" "$@"; }

export FERRY_PASSWORD=correct-horse
prefix=cli-$$
repo="s3://$FERRY_RGW_LOCKED_BUCKET/$prefix?endpoint=$FERRY_RGW_ENDPOINT"
python3 "$here/../../scripts/make-volume.py" "$tmp/a.img" 24 1
python3 "$here/../../scripts/make-volume.py" "$tmp/b.img" 24 2

# --- where objects cannot be locked, init refuses and writes nothing -------------------------
"$ferry" init -r "$tmp/local" --object-lock-days 3 >/dev/null 2>"$tmp/err"
check "init with Object Lock on a local path fails" test $? -ne 0
check "... saying why" grep -q "cannot lock objects: Object Lock needs an S3 bucket created with it" "$tmp/err"
check "... and writes nothing" test ! -e "$tmp/local/config"
plain="s3://$FERRY_RGW_PLAIN_BUCKET/$prefix?endpoint=$FERRY_RGW_ENDPOINT"
"$ferry" init -r "$plain" --object-lock-days 3 >/dev/null 2>"$tmp/err"
check "init with Object Lock on a bucket without it fails" test $? -ne 0
check "... naming the bucket" grep -q "s3://$FERRY_RGW_PLAIN_BUCKET does not have Object Lock enabled" "$tmp/err"
"$ferry" snapshots -r "$plain" >/dev/null 2>"$tmp/err"
check "... and writes nothing" grep -q "no ferry repository at" "$tmp/err"
"$ferry" init -r "$repo" --object-lock-days 3 --object-lock-mode sloppy >/dev/null 2>"$tmp/err"
check "an unknown mode is refused" grep -q "object-lock-mode must be compliance or governance" "$tmp/err"

# --- backups lock what they write ----------------------------------------------------------
"$ferry" init -r "$repo" --object-lock-days 3 --object-lock-mode governance >/dev/null 2>"$tmp/err"
check "init with Object Lock" grep -q "under S3 Object Lock (governance) for 3 days" "$tmp/err"
"$ferry" backup -r "$repo" "$tmp/a.img" --name vol >/dev/null 2>&1
"$ferry" backup -r "$repo" "$tmp/b.img" --name vol >/dev/null 2>&1
"$ferry" restore -r "$repo" latest -t "$tmp/b.out" >/dev/null 2>&1
check "a backup under Object Lock restores byte-exact" cmp -s "$tmp/b.img" "$tmp/b.out"
check "every object but indexes and locks is retained for 3 days (boto3)" locks retained "$prefix" governance 3
check "the server refuses to delete a pack" locks refuses "$prefix"
first=$("$ferry" snapshots -r "$repo" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')

# --- forget keeps what is locked ----------------------------------------------------------
"$ferry" forget -r "$repo" --keep-last 1 >"$tmp/out" 2>&1
check "forget by policy succeeds while a snapshot is locked" test $? -eq 0
check "... and says it stays" grep -q "1 snapshot(s) kept: still under Object Lock" "$tmp/out"
check "... listing it as locked" grep -q "^  locked  *${first:0:8}" "$tmp/out"
"$ferry" forget -r "$repo" "${first:0:8}" >/dev/null 2>"$tmp/err"
check "forgetting a locked snapshot by name fails" test $? -ne 0
check "... naming Object Lock" grep -q "still under Object Lock" "$tmp/err"
check "both snapshots remain" test "$("$ferry" snapshots -r "$repo" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 2

# --- days pass: the first snapshot's lock ends, its packs are still locked ----------------------
locks shorten "$prefix" "snapshots/$first" 2 >/dev/null
sleep 3
"$ferry" forget -r "$repo" --keep-last 1 >"$tmp/out" 2>&1
check "once its lock ends, the snapshot is forgotten" grep -q "^1 snapshot(s) forgotten" "$tmp/out"
"$ferry" prune -r "$repo" --json >"$tmp/prune1.json" 2>"$tmp/err"
check "prune with locked unused packs succeeds" test $? -eq 0
check "... deleting none of them" python3 - "$tmp/prune1.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["packs_retained"] > 0 and r["packs_deleted"] == 0, r
assert any("stay under Object Lock until" in m for m in r["messages"]), r["messages"]
PY
"$ferry" check -r "$repo" --read-data >/dev/null 2>&1
check "check --read-data passes with locked garbage" test $? -eq 0

# --- more days pass: every pack's lock runs short -------------------------------------------------
packs_before=$(locks count "$prefix" data/)
locks shorten "$prefix" data/ 2 >/dev/null
locks shorten "$prefix" snapshots/ 2 >/dev/null
sleep 3
"$ferry" prune -r "$repo" --json >"$tmp/prune2.json" 2>"$tmp/err"
check "prune after the locks ran short succeeds" test $? -eq 0
check "... deletes the packs nothing uses and extends the rest" python3 - "$tmp/prune2.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["packs_deleted"] > 0 and r["packs_retained"] == 0, r
assert r["retention_extended"] > 0, r
PY
check "fewer packs remain ($packs_before before)" test "$(locks count "$prefix" data/)" -lt "$packs_before"
check "everything left is retained for 3 days again (boto3)" locks retained "$prefix" governance 3
check "what prune deleted is gone, not hidden behind delete markers" locks versions "$prefix"
"$ferry" check -r "$repo" --read-data >/dev/null 2>&1
check "check --read-data passes after prune" test $? -eq 0
"$ferry" restore -r "$repo" latest -t "$tmp/b.out2" >/dev/null 2>&1
check "the kept snapshot restores byte-exact" cmp -s "$tmp/b.img" "$tmp/b.out2"

# --- a killed writer's unfinished upload: aborted once stale ----------------------------------
locks start-upload "$prefix" data/ff/killed-pack >/dev/null
"$ferry" prune -r "$repo" >"$tmp/out" 2>&1
check "prune leaves a young unfinished upload alone" test "$(locks uploads "$prefix")" = 1
sleep 2
FERRY_LOCK_STALE_SECONDS=1 "$ferry" prune -r "$repo" --dry-run >"$tmp/out" 2>&1
check "prune --dry-run counts a stale one" grep -q "would delete 1 leftover(s) of killed writers (5.00 MiB)" "$tmp/out"
check "... and leaves it" test "$(locks uploads "$prefix")" = 1
FERRY_LOCK_STALE_SECONDS=1 "$ferry" prune -r "$repo" >"$tmp/out" 2>&1
check "prune aborts it, saying so" grep -q "deleted 1 leftover(s) of killed writers (5.00 MiB)" "$tmp/out"
check "... and the server lists no upload (boto3)" test "$(locks uploads "$prefix")" = 0
"$ferry" check -r "$repo" >/dev/null 2>&1
check "check passes" test $? -eq 0

# --- a copy where nothing can be locked: readable, not writable -------------------------------
locks download "$prefix" "$tmp/copy"
"$ferry" restore -r "$tmp/copy" latest -t "$tmp/b.out3" >/dev/null 2>&1
check "a local copy of a locked repository restores" cmp -s "$tmp/b.img" "$tmp/b.out3"
"$ferry" backup -r "$tmp/copy" "$tmp/a.img" >/dev/null 2>"$tmp/err"
check "but refuses new backups" test $? -ne 0
check "... saying why" grep -q "keeps what it writes under Object Lock (3 days), which .* cannot do" "$tmp/err"

finish "Object Lock CLI"
