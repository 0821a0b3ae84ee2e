#!/usr/bin/env bash
# The CLI against NFS through libnfs: nfs-ganesha on 127.0.0.2 in a private network namespace.
# Run through tests/servers/with_nfs.sh (which sets FERRY_NFS_URI and FERRY_NFS_EXPORT_DIR).
# Usage: nfs_cli_test.sh FERRY_BINARY
set -u
ferry=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/transport_lib.sh"
[[ -n "${FERRY_NFS_URI:-}" ]] || { echo "FAIL: no NFS test server (run through tests/servers/with_nfs.sh)"; exit 1; }

export FERRY_PASSWORD=correct-horse
repo="$FERRY_NFS_URI/backups/repo"

# --- the main path, over NFSv3 -------------------------------------------------------------
round_trip "$repo" NFS
check "init on NFS created the directories" test -f "$FERRY_NFS_EXPORT_DIR/backups/repo/config"
check "no temporary files are left" test -z "$(find "$FERRY_NFS_EXPORT_DIR" -name '.tmp-*')"

# --- the same repository, seen as a directory on the server and over NFSv4 -----------------------
"$ferry" restore -r "$FERRY_NFS_EXPORT_DIR/backups/repo" latest -t "$tmp/local.img" >/dev/null 2>&1
check "the server's directory is the same repository" cmp -s "$tmp/vol.img" "$tmp/local.img"
"$ferry" restore -r "$repo?version=4" "${first:0:8}" -t "$tmp/v4.img" >/dev/null 2>"$tmp/err"
check "NFSv4 reads restore byte-exact" cmp -s "$tmp/vol.first" "$tmp/v4.img"
"$ferry" backup -r "$repo?version=4" "$tmp/vol.img" >/dev/null 2>"$tmp/err"
check "NFSv4 writes are refused, naming the fix" grep -q "use ?version=3" "$tmp/err"

# --- a network that loses the first answer to every call that changes the namespace -----------
# The server did it, the proxy dropped the connection, libnfs sent it again on a new one, and
# ganesha, not knowing the resend, failed it (EEXIST for init's config, NOENT for every rename).
lossy="$FERRY_NFS_LOSSY_URI/backups/lossy"
lost() { python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['lost'])" "$FERRY_NFS_LOSSY_STATS"; }
before=$(lost)
"$ferry" init -r "$lossy" >/dev/null 2>"$tmp/err"
check "init succeeds though its answers are lost" test $? -eq 0
lossy_round "$lossy" NFS
check "no temporary files are left after lost answers" \
  test -z "$(find "$FERRY_NFS_EXPORT_DIR/backups/lossy" -name '.tmp-*')"
after=$(lost)
check "answers were lost ($((after - before)))" test $((after - before)) -gt 5

# --- errors -------------------------------------------------------------------------------
# No route leaves the test namespace (it has only lo): this fails at once, sending nothing.
"$ferry" snapshots -r "nfs://192.0.2.1/export" >/dev/null 2>"$tmp/err"
check "an unreachable server is named" grep -q "cannot reach nfs://192.0.2.1/export" "$tmp/err"
"$ferry" snapshots -r "nfs://127.0.0.2:20499${FERRY_NFS_URI#nfs://127.0.0.2}/backups/repo" >/dev/null 2>"$tmp/err"
check "an NFS port that does not answer is named, not taken for a path not exported" \
  grep -q "cannot reach .*: 127.0.0.2 exports .* but its NFS service does not answer at port 20499" "$tmp/err"
"$ferry" snapshots -r "nfs://127.0.0.2/not/exported" >/dev/null 2>"$tmp/err"
check "a path nobody exports is named" grep -q "nfs://127.0.0.2/not/exported: no part of the path is exported by 127.0.0.2" "$tmp/err"
"$ferry" snapshots -r "$FERRY_NFS_URI/backups/none" >/dev/null 2>"$tmp/err"
check "a missing repository directory is named" grep -q "$FERRY_NFS_URI/backups/none" "$tmp/err"
"$ferry" snapshots -r "nfs://127.0.0.2/x?version=5" >/dev/null 2>"$tmp/err"
check "a bad version is named" grep -q "version" "$tmp/err"

# --- SIGKILL during a backup: nothing earlier is lost ----------------------------------------
killed_backup "$repo" "$FERRY_NFS_EXPORT_DIR"
prune_round "$repo" NFS

# --- the server stops answering in the middle of a backup -----------------------------------
# The backup reaches the server through the proxy, which is stopped (SIGSTOP, by PID) once the
# first pack is written: every call from then on waits in vain. With ?timeout=2 the backup fails
# within seconds, saying the server did not answer; nothing earlier is lost.
"$ferry" restore -r "$repo" latest -t "$tmp/before-stall.img" >/dev/null 2>&1
snapshots_before=$("$ferry" snapshots -r "$repo" 2>/dev/null | grep -c .)
packs_before=$(find "$FERRY_NFS_EXPORT_DIR/backups/repo/data" -type f | wc -l)
python3 "$here/../../scripts/make-volume.py" "$tmp/stall.img" 48 11  # New data: new packs.
mkfifo "$tmp/stall-feed"
{ cat "$tmp/stall.img"; exec sleep 120; } >"$tmp/stall-feed" &
feeder=$!
"$ferry" backup -r "$FERRY_NFS_LOSSY_URI/backups/repo?timeout=2" - --name stalled \
  <"$tmp/stall-feed" >/dev/null 2>"$tmp/stall.err" &
pid=$!
for _ in $(seq 1 400); do
  (( $(find "$FERRY_NFS_EXPORT_DIR/backups/repo/data" -type f | wc -l) > packs_before )) && break
  sleep 0.05
done
kill -STOP "$FERRY_NFS_LOSSY_PID"
kill $feeder 2>/dev/null  # The end of the volume: the backup must now write the rest.
wait $feeder 2>/dev/null
wait $pid
rc=$?
kill -CONT "$FERRY_NFS_LOSSY_PID"
rm -f "$tmp/stall-feed"
check "a backup whose server stops answering fails" test $rc -ne 0
check "it says the server did not answer, naming the timeout to raise" \
  grep -q "the NFS server did not answer in time.*?timeout=SECONDS" "$tmp/stall.err"
"$ferry" check -r "$repo" >/dev/null 2>"$tmp/err"
check "check passes after the server stopped answering" test $? -eq 0
check "no snapshot was added" test "$("$ferry" snapshots -r "$repo" 2>/dev/null | grep -c .)" -eq "$snapshots_before"
"$ferry" restore -r "$repo" latest -t "$tmp/after-stall.img" >/dev/null 2>&1
check "the latest snapshot still restores after the server stopped answering" \
  cmp -s "$tmp/before-stall.img" "$tmp/after-stall.img"

finish "NFS CLI"
