# Shared by the CLI tests of remote transports (s3_cli_test.sh, nfs_cli_test.sh). Source after
# lib.sh with $ferry and $here set.

# round_trip REPO WHERE: init, a full and an incremental backup of $tmp/vol.img, restores of
# both, check --read-data. Leaves $tmp/vol.first (the first state) and sets $first (its id).
round_trip() {
  local repo=$1 where=$2
  python3 "$here/../../scripts/make-volume.py" "$tmp/vol.img" 48 1
  "$ferry" init -r "$repo" >/dev/null 2>"$tmp/err"
  check "init on $where" test $? -eq 0
  "$ferry" init -r "$repo" >/dev/null 2>"$tmp/err"
  check "init twice is refused" grep -qF "a repository already exists at ${repo%%\?*}" "$tmp/err"
  "$ferry" backup -r "$repo" "$tmp/vol.img" >"$tmp/out" 2>&1
  check "backup to $where" grep -q "^snapshot [0-9a-f]\{8\} saved" "$tmp/out"
  cp "$tmp/vol.img" "$tmp/vol.first"
  printf 'changed bytes' | dd of="$tmp/vol.img" bs=1 seek=5000000 conv=notrunc status=none
  "$ferry" backup -r "$repo" --json "$tmp/vol.img" >"$tmp/second.json" 2>/dev/null
  check "an incremental to $where stores little" python3 - "$tmp/second.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["bytes_new"] < 8 << 20, r
PY
  "$ferry" restore -r "$repo" latest -t "$tmp/latest.img" >/dev/null 2>&1
  check "restore from $where is byte-exact" cmp -s "$tmp/vol.img" "$tmp/latest.img"
  first=$("$ferry" snapshots -r "$repo" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
  "$ferry" restore -r "$repo" "${first:0:8}" -t "$tmp/first.img" >/dev/null 2>&1
  check "the first snapshot restores byte-exact" cmp -s "$tmp/vol.first" "$tmp/first.img"
  "$ferry" check -r "$repo" --read-data >"$tmp/out" 2>&1
  check "check --read-data passes on $where" test $? -eq 0
}

# held_backup REPO VOLUME NAME: starts a backup (in the background) of VOLUME through
# a pipe that stays open after it, so the backup waits for more until end_of_volume; sets
# $held_pid, its stderr in $tmp/held.err.
held_backup() {
  local repo=$1 volume=$2 name=$3
  rm -f "$tmp/held-feed" && mkfifo "$tmp/held-feed"
  { cat "$volume"; exec sleep 120; } >"$tmp/held-feed" &
  held_feeder=$!
  "$ferry" backup -r "$repo" - --name "$name" <"$tmp/held-feed" >/dev/null 2>"$tmp/held.err" &
  held_pid=$!
}
# end_of_volume: closes the held backup's pipe; the backup goes on to finish.
end_of_volume() {
  kill $held_feeder 2>/dev/null
  wait $held_feeder 2>/dev/null
  rm -f "$tmp/held-feed"
}
# count_files DIR PATH_GLOB: how many files under DIR match PATH_GLOB (find -path).
count_files() { find "$1" -path "$2" -type f 2>/dev/null | wc -l; }
# wait_for_more_files DIR PATH_GLOB N: until more than N files match (at most 20 s).
wait_for_more_files() {
  for _ in $(seq 1 400); do (( $(count_files "$@") > $3 )) && return; sleep 0.05; done
}

# killed_backup REPO SERVER_DIR: SIGKILL a backup mid-way — held after 48 MiB, killed once its
# lock and a pack of its own are on the server (SERVER_DIR, where the server keeps the
# objects), so it can neither finish first nor die before it started; check passes, the first
# snapshot still restores, and a new backup succeeds.
killed_backup() {
  local repo=$1 server_dir=$2 packs_before
  python3 "$here/../../scripts/make-volume.py" "$tmp/big.img" 160 7
  head -c 48M "$tmp/big.img" >"$tmp/big-start.img"
  packs_before=$(count_files "$server_dir" '*/repo/data/*')
  held_backup "$repo" "$tmp/big-start.img" big
  wait_for_more_files "$server_dir" '*/repo/locks/*' 0
  wait_for_more_files "$server_dir" '*/repo/data/*' "$packs_before"
  kill -9 $held_pid 2>/dev/null
  wait $held_pid 2>/dev/null
  end_of_volume
  "$ferry" check -r "$repo" >/dev/null 2>"$tmp/err"
  check "check passes after a killed backup" test $? -eq 0
  "$ferry" restore -r "$repo" "${first:0:8}" -t "$tmp/first2.img" >/dev/null 2>&1
  check "earlier snapshots still restore after a killed backup" cmp -s "$tmp/vol.first" "$tmp/first2.img"
  "$ferry" backup -r "$repo" "$tmp/big.img" >/dev/null 2>&1 &&
    "$ferry" restore -r "$repo" latest -t "$tmp/big.out" >/dev/null 2>&1
  check "a new backup after the kill succeeds" cmp -s "$tmp/big.img" "$tmp/big.out"
}

# prune_round REPO WHERE: forget all but the newest snapshot and prune over the transport (locks
# and prune records included); the killed backup's lock is cleared, space comes back, and the
# newest snapshot still restores.
prune_round() {
  local repo=$1 where=$2
  "$ferry" forget -r "$repo" --keep-last 1 --group-by '' --prune >"$tmp/prune.out" 2>&1
  check "forget --prune on $where deletes packs" grep -q "deleted [1-9][0-9]* pack(s)" "$tmp/prune.out"
  check "it clears the killed backup's lock on $where" grep -q "removed a stale backup lock" "$tmp/prune.out"
  "$ferry" check -r "$repo" --read-data >"$tmp/out" 2>&1
  check "check --read-data passes after prune on $where, nothing left waiting" \
    test $? -eq 0 -a -z "$(grep -E 'stale|prune record|not indexed' "$tmp/out")"
  "$ferry" restore -r "$repo" latest -t "$tmp/pruned.img" >/dev/null 2>&1
  check "the kept snapshot restores byte-exact after prune on $where" cmp -s "$tmp/big.img" "$tmp/pruned.img"
}

# lossy_round REPO WHERE: through a server whose answers are lost (the request done, the answer
# never arriving, the client sending it again): backups of $tmp/vol.first and $tmp/vol.img,
# forget --prune, a restore compared with the volume, check --read-data. The repository must
# exist already (its init is the caller's first check).
lossy_round() {
  local repo=$1 where=$2
  "$ferry" backup -r "$repo" "$tmp/vol.first" >/dev/null 2>"$tmp/err" &&
    "$ferry" backup -r "$repo" "$tmp/vol.img" >/dev/null 2>>"$tmp/err" &&
    "$ferry" forget -r "$repo" --keep-last 1 --group-by '' --prune >/dev/null 2>>"$tmp/err" &&
    "$ferry" restore -r "$repo" latest -t "$tmp/lossy.img" >/dev/null 2>>"$tmp/err"
  check "backup, prune and restore ride out lost answers on $where" cmp -s "$tmp/vol.img" "$tmp/lossy.img"
  "$ferry" check -r "$repo" --read-data >/dev/null 2>&1
  check "check --read-data passes after lost answers on $where" test $? -eq 0
}
