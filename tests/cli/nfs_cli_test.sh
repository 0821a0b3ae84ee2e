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
"$ferry" snapshots -r "nfs://127.0.0.2:20499${FERRY_NFS_URI#nfs://127.0.0.2}/backups/repo?version=4" \
  >/dev/null 2>"$tmp/err"
check "an NFSv4 port that does not answer is named" \
  grep -q "cannot reach .*: nothing answers at 127.0.0.2:20499 (its NFSv4 port)" "$tmp/err"
# A host where nothing listens (a network namespace of its own): not taken for a server whose
# NFS port is wrong.
unshare --net bash -c 'ip link set lo up && "$1" snapshots -r nfs://127.0.0.1/export' _ "$ferry" \
  >/dev/null 2>"$tmp/err"
check "a host with no NFS server is named as such" \
  grep -q "cannot reach nfs://127.0.0.1/export: nothing answers at 127.0.0.1:111 (the portmapper)" "$tmp/err"
"$ferry" snapshots -r "nfs://127.0.0.2/not/exported" >/dev/null 2>"$tmp/err"
check "a path nobody exports is named" grep -q "nfs://127.0.0.2/not/exported: no part of the path is exported by 127.0.0.2" "$tmp/err"
"$ferry" snapshots -r "$FERRY_NFS_URI/backups/none" >/dev/null 2>"$tmp/err"
check "a missing repository directory is named" grep -q "$FERRY_NFS_URI/backups/none" "$tmp/err"
"$ferry" snapshots -r "nfs://127.0.0.2/x?version=5" >/dev/null 2>"$tmp/err"
check "a bad version is named" grep -q "version" "$tmp/err"

# --- SIGKILL during a backup: nothing earlier is lost ----------------------------------------
killed_backup "$repo" "$FERRY_NFS_EXPORT_DIR"
prune_round "$repo" NFS

# --- the server restarts in the middle of a backup ------------------------------------------
# Stopped (by PID) once the first pack is written; the rest of the volume arrives while it is
# down, so the backup's calls wait for it; back 2 s later. libnfs reconnects and resends what
# was in flight: the backup completes and restores byte-exact.
python3 "$here/../../scripts/make-volume.py" "$tmp/restart.img" 48 13
"$ferry" init -r "$FERRY_NFS_URI/backups/restart" >/dev/null 2>&1
held_backup "$FERRY_NFS_URI/backups/restart" "$tmp/restart.img" restart
wait_for_more_files "$FERRY_NFS_EXPORT_DIR/backups/restart" '*/data/*' 0
"$FERRY_NFS_RESTART" 2 "$tmp/server-down" &
restarter=$!
for _ in $(seq 1 400); do [[ -e "$tmp/server-down" ]] && break; sleep 0.05; done
end_of_volume  # The rest arrives while the server is away.
wait $restarter
restarted=$?
wait $held_pid
rc=$?
check "the server was restarted" test $restarted -eq 0
check "a backup rides out the server's restart" test $rc -eq 0
"$ferry" restore -r "$FERRY_NFS_URI/backups/restart" latest -t "$tmp/restart.out" >/dev/null 2>&1
check "and restores byte-exact" cmp -s "$tmp/restart.img" "$tmp/restart.out"

# --- the server stops answering in the middle of a backup -----------------------------------
# The backup reaches the server through the proxy, which is stopped (SIGSTOP, by PID) once the
# first pack is written: every call from then on waits in vain. With ?timeout=2 the backup fails
# within seconds, saying the server did not answer; nothing earlier is lost.
"$ferry" restore -r "$repo" latest -t "$tmp/before-stall.img" >/dev/null 2>&1
snapshots_before=$("$ferry" snapshots -r "$repo" 2>/dev/null | grep -c .)
python3 "$here/../../scripts/make-volume.py" "$tmp/stall.img" 48 11  # New data: new packs.
packs_before=$(count_files "$FERRY_NFS_EXPORT_DIR/backups/repo" '*/data/*')
held_backup "$FERRY_NFS_LOSSY_URI/backups/repo?timeout=2" "$tmp/stall.img" stalled
wait_for_more_files "$FERRY_NFS_EXPORT_DIR/backups/repo" '*/data/*' "$packs_before"
kill -STOP "$FERRY_NFS_LOSSY_PID"
end_of_volume  # The backup must now write the rest.
wait $held_pid
rc=$?
kill -CONT "$FERRY_NFS_LOSSY_PID"
check "a backup whose server stops answering fails" test $rc -ne 0
check "it says the server did not answer, naming the timeout to raise" \
  grep -q "the NFS server did not answer in time.*?timeout=SECONDS" "$tmp/held.err"
"$ferry" check -r "$repo" >/dev/null 2>"$tmp/err"
check "check passes after the server stopped answering" test $? -eq 0
check "no snapshot was added" test "$("$ferry" snapshots -r "$repo" 2>/dev/null | grep -c .)" -eq "$snapshots_before"
"$ferry" restore -r "$repo" latest -t "$tmp/after-stall.img" >/dev/null 2>&1
check "the latest snapshot still restores after the server stopped answering" \
  cmp -s "$tmp/before-stall.img" "$tmp/after-stall.img"

finish "NFS CLI"
