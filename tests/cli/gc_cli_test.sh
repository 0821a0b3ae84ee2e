#!/usr/bin/env bash
# Keeping a repository healthy, end to end: forget policies, prune, repair index, bit rot found
# by check --read-data, two backups writing while prune runs in a loop, and SIGKILLs of backup
# and prune at random moments.
# Usage: gc_cli_test.sh FERRY_BINARY [CRASH_SEEDS]   (50 seeds by hand; a few in CI)
set -u
ferry=$1
crash_seeds=${2:-${FERRY_CRASH_SEEDS:-8}}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
make_volume() { python3 "$here/../../scripts/make-volume.py" "$1" "$2" "${3:-1}"; }
# evolve FILE SEED: overwrites about 6% of FILE's 64 KiB blocks with other data, in place.
evolve() { python3 "$here/../../scripts/evolve-volume.py" "$1" "$2" 6; }
ids() { "$ferry" snapshots -r "$1" --json | python3 -c 'import json,sys; [print(s["id"]) for s in json.load(sys.stdin)]'; }
# backup_saved REPO FILE [ARGS…]: backs FILE up and keeps a copy under $tmp/versions/<id>.
mkdir -p "$tmp/versions"
backup_saved() {
  local repo=$1 file=$2 copy id
  shift 2
  copy=$(mktemp "$tmp/versions/pending-XXXXXX")
  cp "$file" "$copy"
  id=$("$ferry" backup -r "$repo" --json "$copy" --name "$(basename "$file")" "$@" 2>>"$tmp/backup.err" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshot"])') || { rm -f "$copy"; return 1; }
  mv "$copy" "$tmp/versions/$id"
}
# verify_all REPO LABEL: every snapshot restores byte-exact to the copy saved when it was made.
verify_all() {
  local bad=0 id list
  list=$(ids "$1") && [[ -n "$list" ]] || { echo "  no snapshots listed in $1"; bad=1; }
  for id in $list; do
    "$ferry" restore -r "$1" "$id" -t "$tmp/verify.img" --overwrite >/dev/null 2>"$tmp/verify.err" &&
      cmp -s "$tmp/verify.img" "$tmp/versions/$id" || { echo "  snapshot $id: $(cat "$tmp/verify.err")"; bad=1; }
  done
  check "$2: every snapshot restores byte-exact" test $bad -eq 0
}
checks_clean() {  # checks_clean REPO LABEL
  "$ferry" check -r "$1" --read-data >"$tmp/check.out" 2>&1
  check "$2: check --read-data passes" grep -q "^no errors:" "$tmp/check.out" ||
    sed 's/^/  /' "$tmp/check.out" | head -20
}
export FERRY_PASSWORD=gc-test

# --- forget by policy, dry run, prune ---------------------------------------------------
repo=$tmp/repo
"$ferry" init -r "$repo" --pack-size 4 >/dev/null 2>&1
make_volume "$tmp/disk0" 24 1
for i in 1 2 3 4 5; do
  tag=()
  [[ $i -eq 2 ]] && tag=(--tag keep)
  backup_saved "$repo" "$tmp/disk0" "${tag[@]}"
  evolve "$tmp/disk0" "$i"
done
mapfile -t all < <(ids "$repo")
"$ferry" forget -r "$repo" >/dev/null 2>"$tmp/err"
check "forget with neither names nor policy is a usage error" test $? -eq 2
check "and says what it needs" grep -q "give a --keep-\* policy" "$tmp/err"
"$ferry" forget -r "$repo" --keep-last 0 >/dev/null 2>"$tmp/err"
check "a policy that keeps nothing is refused, saying so" test $? -eq 2 -a \
  -n "$(grep "a policy that keeps nothing is refused" "$tmp/err")" -a "$(ids "$repo" | wc -l)" -eq "${#all[@]}"
"$ferry" forget -r "$repo" --keep-last 2 --keep-tag keep --dry-run --json >"$tmp/dry.json" 2>&1
check "dry run names the two it would forget, and why the rest stay" python3 - "$tmp/dry.json" "${all[@]}" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ids = sys.argv[2:]
assert r["dry_run"] and sorted(r["would_forget"]) == sorted([ids[0], ids[2]]), r
reasons = {s["id"]: s["reasons"] for g in r["groups"] for s in g["snapshots"]}
assert reasons[ids[4]] == ["last"] and reasons[ids[1]] == ["tag keep"], reasons
PY
check "a dry run forgets nothing" test "$(ids "$repo" | wc -l)" -eq 5
before=$(du -sb "$repo/data" | cut -f1)
"$ferry" forget -r "$repo" --keep-last 2 --keep-tag keep --prune >"$tmp/out" 2>&1
check "forget --prune reports deleted packs" grep -q "deleted [1-9][0-9]* pack(s)" "$tmp/out"
check "three snapshots remain" test "$(ids "$repo" | wc -l)" -eq 3
after=$(du -sb "$repo/data" | cut -f1)
check "prune freed space ($before -> $after bytes)" test "$after" -lt "$before"
check "no lock and no prune record is left" test -z "$(find "$repo/locks" "$repo/prune" -type f 2>/dev/null)"
checks_clean "$repo" "after prune"
verify_all "$repo" "after prune"
"$ferry" prune -r "$repo" --json >"$tmp/prune2.json" 2>&1
check "a second prune finds nothing more to delete" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["packs_deleted"] == 0 and r["packs_unused"] == 0, r' "$tmp/prune2.json"

# What a backup killed mid-pack leaves: a temporary never renamed, which no listing shows. Prune
# deletes it once nothing has written to it for the stale time, and leaves a fresh one alone.
mkdir -p "$repo/data/5e"
head -c 300000 /dev/urandom >"$repo/data/5e/.tmp-killed"
touch -d '2 hours ago' "$repo/data/5e/.tmp-killed"
head -c 1000 /dev/urandom >"$repo/data/5e/.tmp-running"
"$ferry" prune -r "$repo" >"$tmp/prune3.out" 2>&1
check "prune reports the leftover it deleted" grep -q "deleted 1 leftover(s) of killed writers" "$tmp/prune3.out"
check "the stale leftover is gone" test ! -e "$repo/data/5e/.tmp-killed"
check "a fresh temporary is kept" test -e "$repo/data/5e/.tmp-running"
rm -f "$repo/data/5e/.tmp-running"
checks_clean "$repo" "after deleting leftovers"

# --- repair index -----------------------------------------------------------------------
cp -r "$repo" "$tmp/noindex"
rm -f "$tmp/noindex"/index/*
"$ferry" check -r "$tmp/noindex" >"$tmp/out" 2>&1
check "check fails without an index" grep -q "is not in the index" "$tmp/out"
"$ferry" repair index -r "$tmp/noindex" >"$tmp/out" 2>&1
check "repair index rebuilds it from the packs" grep -q "^index rebuilt from [1-9]" "$tmp/out"
checks_clean "$tmp/noindex" "after repair index"
verify_all "$tmp/noindex" "after repair index"
cp -r "$repo" "$tmp/badindex"
damaged=$(cd "$tmp/badindex" && ls index/* | head -1)
truncate -s 100 "$tmp/badindex/$damaged"
"$ferry" restore -r "$tmp/badindex" latest -t "$tmp/bad.out" >/dev/null 2>"$tmp/err"
check "a damaged index object fails a restore, naming it and the repair" test $? -eq 1 -a \
  -n "$(grep "$damaged: .*; \`ferry repair index\` rebuilds the index from the packs" "$tmp/err")"
"$ferry" repair index -r "$tmp/badindex" >/dev/null 2>&1
checks_clean "$tmp/badindex" "after repairing a damaged index object"
verify_all "$tmp/badindex" "after repairing a damaged index object"

# --- bit rot: every damaged pack is found; unaffected snapshots still restore ------------
rot=$tmp/rot
cp -r "$repo" "$rot"
for i in 4 5 6; do
  make_volume "$tmp/other$i" 6 $((i * 7))
  backup_saved "$rot" "$tmp/other$i"
done
mapfile -t rotted < <(cd "$rot" && ls data/*/* | python3 -c '
import random, sys
packs = sys.stdin.read().split()
random.seed(11)
for p in random.sample(packs, 3): print(p)')
for p in "${rotted[@]}"; do
  python3 - "$rot/$p" <<'PY'
import os, random, sys
path = sys.argv[1]
b = bytearray(open(path, "rb").read())
rng = random.Random(len(b))
for _ in range(2):
    i = rng.randrange(len(b) - 200)  # Blobs, not the trailer (a damaged trailer is named too).
    b[i] ^= 1 << rng.randrange(8)
open(path, "wb").write(b)
PY
done
"$ferry" check -r "$rot" --read-data --json >"$tmp/rot.json" 2>"$tmp/rot.err"
check "check --read-data fails on bit rot" test $? -eq 1
check "it names every damaged pack" python3 - "$tmp/rot.json" "${rotted[@]}" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
text = json.dumps(r["errors"])
missing = [p for p in sys.argv[2:] if p not in text]
assert not missing, (missing, r["errors"])
PY
python3 - "$tmp/rot.json" >"$tmp/rot.users" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for d in r["damaged"]:
    for s in d["snapshots"]: print(s)
PY
bad=0; good=0
for id in $(ids "$rot"); do
  if grep -q "$id" "$tmp/rot.users"; then
    "$ferry" restore -r "$rot" "$id" -t "$tmp/r.img" --overwrite >/dev/null 2>&1 && bad=1
  else
    good=$((good + 1))
    "$ferry" restore -r "$rot" "$id" -t "$tmp/r.img" --overwrite >/dev/null 2>&1 &&
      cmp -s "$tmp/r.img" "$tmp/versions/$id" || bad=1
  fi
done
check "snapshots it names fail to restore, the $good others restore byte-exact" test $bad -eq 0
"$ferry" check -r "$rot" --read-data-subset 50% --json >"$tmp/subset.json" 2>&1
check "--read-data-subset reads about half the packs" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert 0 < r["packs_read"] < r["packs"] and abs(r["packs_read"] - r["packs"] / 2) <= 1, r' "$tmp/subset.json"

# --- two backups at once while prune runs in a loop --------------------------------------
live=$tmp/live
"$ferry" init -r "$live" --pack-size 4 >/dev/null 2>&1
make_volume "$tmp/base" 16 5
cp "$tmp/base" "$tmp/hostA"
cp "$tmp/base" "$tmp/hostB"
writer() {  # writer NAME SEED0: six backups of an evolving volume sharing the base's data
  local i
  for i in 1 2 3 4 5 6; do
    backup_saved "$live" "$tmp/$1" || echo "backup of $1 failed: $(tail -1 "$tmp/backup.err")" >>"$tmp/writer.fail"
    evolve "$tmp/$1" $(($2 + i))
  done
}
writer hostA 100 &
wa=$!
writer hostB 200 &
wb=$!
prunes=0
while kill -0 $wa 2>/dev/null || kill -0 $wb 2>/dev/null; do
  "$ferry" forget -r "$live" --keep-last 2 --prune >>"$tmp/loop.out" 2>&1 || echo "prune failed" >>"$tmp/writer.fail"
  prunes=$((prunes + 1))
done
wait $wa $wb
check "no backup or prune failed during $prunes concurrent prunes" test ! -s "$tmp/writer.fail"
[[ -s "$tmp/writer.fail" ]] && sed 's/^/  /' "$tmp/writer.fail" | head
"$ferry" prune -r "$live" >/dev/null 2>&1  # Finish records the last loop left waiting.
checks_clean "$live" "after concurrent backups and prunes"
verify_all "$live" "after concurrent backups and prunes"

# --- a killed job's lock is stale at once on its own host, and prune clears it ------------
# Fed through a pipe that stalls, so it cannot finish before the kill.
mkfifo "$tmp/feed"
{ head -c 8M "$tmp/base"; exec sleep 120; } >"$tmp/feed" &
feeder=$!
"$ferry" backup -r "$live" - --name big <"$tmp/feed" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 400); do
  [[ -n "$(ls "$live/locks" 2>/dev/null)" ]] && break
  sleep 0.05
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
kill $feeder 2>/dev/null
wait $feeder 2>/dev/null
"$ferry" check -r "$live" >"$tmp/out" 2>&1
check "check warns about the dead backup's lock" grep -q "stale backup lock of host .*process $pid is gone" "$tmp/out"
"$ferry" prune -r "$live" >"$tmp/out" 2>&1
check "prune removes it, saying whose it was" grep -q "removed a stale backup lock of host .*(pid $pid,.*process $pid is gone from this host" "$tmp/out"
# (A kill -9 between writing a lock's next generation and renaming it into place leaves a
# `.tmp-` file, which no listing shows: docs/TRANSPORTS.md, "Publishing".)
check "and nothing waits for it" test -z "$(find "$live/locks" "$live/prune" -type f ! -name '.tmp-*' 2>/dev/null)"

# --- SIGKILL backup and prune at random moments ------------------------------------------
crash=$tmp/crash
"$ferry" init -r "$crash" --pack-size 4 >/dev/null 2>&1
make_volume "$tmp/cvol" 24 9
backup_saved "$crash" "$tmp/cvol"
for seed in $(seq 1 "$crash_seeds"); do
  RANDOM=$seed
  evolve "$tmp/cvol" $((seed + 1000))
  if (( RANDOM % 2 == 0 )); then
    job=backup
    cp "$tmp/cvol" "$tmp/cvol.copy"
    "$ferry" backup -r "$crash" "$tmp/cvol.copy" --name cvol >/dev/null 2>&1 &
  else
    job=prune
    backup_saved "$crash" "$tmp/cvol"
    # Keep at least two snapshots, so there is always something to restore.
    "$ferry" forget -r "$crash" --keep-last $((2 + RANDOM % 2)) >/dev/null 2>&1
    "$ferry" prune -r "$crash" --repack-unused 10 >/dev/null 2>&1 &
  fi
  pid=$!
  sleep "0.$(printf '%03d' $((RANDOM % 400)))"
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  for id in $(ids "$crash"); do  # A backup that finished before the kill.
    [[ -e "$tmp/versions/$id" ]] || cp "$tmp/cvol.copy" "$tmp/versions/$id"
  done
  checks_clean "$crash" "seed $seed (killed $job)"
  verify_all "$crash" "seed $seed (killed $job)"
done
backup_saved "$crash" "$tmp/cvol"
"$ferry" prune -r "$crash" >"$tmp/out" 2>&1
check "a prune after the kills clears their stale locks and succeeds" test $? -eq 0
checks_clean "$crash" "after the kills"
verify_all "$crash" "after the kills"

finish "garbage collection"
