#!/usr/bin/env bash
# NBD exports as backup sources and qemu:dirty-bitmap:NAME as a change source, against a real
# qemu-nbd on a unix socket in this test's directory (nothing listens on the network): a full
# backup reads only what base:allocation calls allocated, an incremental reads around what the
# exported bitmap calls dirty, and both restore to what qemu-img convert makes of the image.
# A server that serves one client at a time (qemu-nbd's default) is read through one
# connection. Then nbdkit, whose filters log, slow down and fail reads: a backup keeps several reads in
# flight, reads nbd:// over TCP on 127.0.0.1 as well, and a read that fails mid-stream, or a
# server that stops answering, fails the backup cleanly; Ctrl-C does not wait for the server.
# Usage: nbd_cli_test.sh FERRY_BINARY
set -u
ferry=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
require qemu-img qemu-io qemu-nbd nbdinfo nbdkit
sock=$tmp/nbd.sock
pidfile=$tmp/nbd.pid
uri="nbd+unix:///?socket=$sock"
serve() {  # serve IMAGE: export it read-only with bitmap b0, to several clients until stopped
  qemu-nbd -r -t -e 8 -f qcow2 -B b0 -k "$sock" --pid-file "$pidfile" --fork "$1"
}
stop() {  # stop [PIDFILE]: stop the server whose PID the file holds (default: qemu-nbd's)
  local file=${1:-$pidfile}
  [[ -f $file ]] || return 0
  local pid; pid=$(cat "$file")
  kill "$pid" 2>/dev/null
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  rm -f "$file"
}
trap 'stop; [[ -n "${KEEP_TMP:-}" ]] || rm -rf "$tmp"' EXIT

export FERRY_PASSWORD=nbd
repo=$tmp/repo
"$ferry" init -r "$repo" >/dev/null 2>&1
img=$tmp/vm.qcow2
qemu-img create -q -f qcow2 "$img" 256M
qemu-io -f qcow2 -c "write -P 0x11 0 8M" -c "write -P 0x22 100M 4M" -c "write -P 0x33 250M 1M" "$img" >/dev/null
qemu-img bitmap --add --enable "$img" b0

# --- a full backup from the export ----------------------------------------------------------
serve "$img"
"$ferry" backup -r "$repo" --name vm "$uri" --json >"$tmp/full.json" 2>"$tmp/err"
check "full backup of an NBD export" test $? -eq 0
check "reads only what base:allocation calls allocated" \
  test "$(json_field "$tmp/full.json" bytes_read)" -le $((13 << 20))
stop
qemu-img convert -O raw "$img" "$tmp/ref1.raw"
"$ferry" restore -r "$repo" latest:vm -t "$tmp/r1.raw" >/dev/null 2>&1
check "restores to what qemu-img convert makes of the image" cmp -s "$tmp/ref1.raw" "$tmp/r1.raw"

# --- the day's writes, tracked by the bitmap --------------------------------------------------
qemu-io -f qcow2 -c "write -P 0x44 4M 64k" -c "write -P 0x55 120M 2M" -c "write -z 100M 1M" "$img" >/dev/null
serve "$img"
nbdinfo_dirty "$uri" b0 >"$tmp/nbdinfo.txt"
"$ferry" changes "$uri" --cbt nbd-bitmap:b0 >"$tmp/ferry.txt" 2>"$tmp/err"
check "nbd-bitmap: ferry reads what nbdinfo reads" cmp -s "$tmp/nbdinfo.txt" "$tmp/ferry.txt"
check "and it is not empty" test -s "$tmp/ferry.txt"
"$ferry" backup -r "$repo" --name vm "$uri" --parent auto --cbt nbd-bitmap:b0 --cbt-verify 2 \
  --json >"$tmp/inc.json" 2>"$tmp/err"
check "incremental backup from the exported bitmap" test $? -eq 0
check "reads little of the 256 MiB volume" test "$(json_field "$tmp/inc.json" bytes_read)" -lt $((24 << 20))
check "trusts the bitmap" test "$(json_field "$tmp/inc.json" cbt_fell_back)" = "False"

"$ferry" changes "$uri" --cbt nbd-bitmap:nope >/dev/null 2>"$tmp/err"
check "a bitmap the server does not export is named" grep -q "does not export qemu:dirty-bitmap:nope" "$tmp/err"
stop
qemu-img convert -O raw "$img" "$tmp/ref2.raw"
"$ferry" restore -r "$repo" latest:vm -t "$tmp/r2.raw" >/dev/null 2>&1
check "the incremental restores byte-exact" cmp -s "$tmp/ref2.raw" "$tmp/r2.raw"
"$ferry" changes "$img" --cbt qcow2-bitmap:b0 >"$tmp/file.txt" 2>/dev/null
check "the same bitmap read from the file agrees" cmp -s "$tmp/nbdinfo.txt" "$tmp/file.txt"

# --- a server that serves one client at a time (qemu-nbd without -e) ---------------------------
# It does not advertise multi-conn and leaves a second connection waiting until the first closes,
# so whatever reads the export twice (a hash-diff pass, the qcow2 layout's workers) must share
# the one connection. FERRY_NBD_TIMEOUT_SECONDS turns a wait into a failure instead of a hang.
qemu-nbd -r -t -f qcow2 -B b0 -k "$sock" --pid-file "$pidfile" --fork "$img"
nbdinfo --can multi-conn "$uri"
check "qemu-nbd's default does not advertise multi-conn" test $? -eq 2
FERRY_NBD_TIMEOUT_SECONDS=5 "$ferry" backup -r "$repo" --name vm "$uri" --parent auto --cbt hash \
  --json >"$tmp/one.json" 2>"$tmp/err"
check "a hash-diff incremental through the one connection" test $? -eq 0
check "finds nothing changed" test "$(json_field "$tmp/one.json" bytes_new)" -eq 0
layout=$tmp/layout
"$ferry" init -r "$layout" --layout qcow2 >/dev/null 2>&1
FERRY_NBD_TIMEOUT_SECONDS=5 "$ferry" backup -r "$layout" --name vm "$uri" >/dev/null 2>"$tmp/err"
check "a qcow2 layout backup, its workers on the one connection" test $? -eq 0
FERRY_NBD_TIMEOUT_SECONDS=5 "$ferry" backup -r "$layout" --name vm "$uri" --cbt nbd-bitmap:b0 \
  --cbt-verify 50 >/dev/null 2>"$tmp/err"
check "and its incremental, the change source sampled" test $? -eq 0
stop
"$ferry" restore -r "$repo" latest:vm -t "$tmp/one.raw" >/dev/null 2>&1
check "the dedup layout's restores byte-exact" cmp -s "$tmp/ref2.raw" "$tmp/one.raw"
"$ferry" restore -r "$layout" latest:vm -t "$tmp/one-layout.raw" >/dev/null 2>&1
check "the qcow2 layout's restores byte-exact" cmp -s "$tmp/ref2.raw" "$tmp/one-layout.raw"

# --- reads in flight, through nbdkit's log and delay filters -----------------------------------
# Extents of odd sizes, so pieces end at range ends as well as at the piece size.
raw=$tmp/many.raw
qemu-img create -q -f raw "$raw" 96M
qemu-io -f raw -c "write -P 0x61 0 5000k" -c "write -P 0x62 9M 13M" -c "write -P 0x63 30724k 4k" \
  -c "write -P 0x64 40M 23M" -c "write -P 0x65 95M 1M" "$raw" >/dev/null
kpid=$tmp/nbdkit.pid
nbdkit_serve() {  # nbdkit_serve OPTION...: serve $raw read-only with ${params[@]}, until nbdkit_stop
  rm -f "$sock" "$kpid"
  nbdkit -r -U "$sock" -P "$kpid" "$@" file "$raw" "${params[@]}"
}
nbdkit_stop() { stop "$kpid"; }
trap 'stop; nbdkit_stop; [[ -n "${KEEP_TMP:-}" ]] || rm -rf "$tmp"' EXIT
params=("logfile=$tmp/nbdkit.log" delay-read=20ms)
nbdkit_serve --filter=log --filter=delay
"$ferry" backup -r "$repo" --name many "$uri" --json >"$tmp/many.json" 2>"$tmp/err"
check "backup through nbdkit" test $? -eq 0
nbdkit_stop
# The most reads one connection had outstanding at once, from the log's request and reply lines.
most_in_flight=$(python3 - "$tmp/nbdkit.log" <<'PY'
import re, sys
open_reads, most = {}, 0
for line in open(sys.argv[1]):
    m = re.search(r"connection=(\d+) (\.\.\.)?Read id=", line)
    if not m:
        continue
    c = m.group(1)
    open_reads[c] = open_reads.get(c, 0) + (-1 if m.group(2) else 1)
    most = max(most, open_reads[c])
print(most)
PY
)
check "keeps several reads in flight (most at once: $most_in_flight)" test "$most_in_flight" -ge 4
"$ferry" restore -r "$repo" latest:many -t "$tmp/many.out" >/dev/null 2>&1
check "and restores byte-exact" cmp -s "$raw" "$tmp/many.out"

# --cbt-verify's sample is random reads: several in flight, over connections of their own when
# the server advertises multi-conn (nbdkit's file plugin does). A change list that names nothing
# leaves the sample as the only reads.
: >"$tmp/nothing.txt"
rm -f "$tmp/nbdkit.log"
nbdkit_serve --filter=log --filter=delay
"$ferry" backup -r "$repo" --name many "$uri" --parent latest --cbt "list:$tmp/nothing.txt" \
  --cbt-verify 100 --json >"$tmp/verify.json" 2>"$tmp/err"
check "an incremental that samples every unchanged chunk" test $? -eq 0
nbdkit_stop
check "trusts the change list" test "$(json_field "$tmp/verify.json" cbt_fell_back)" = "False"
read -r sample_in_flight sample_connections < <(python3 - "$tmp/nbdkit.log" <<'PY'
import re, sys
in_flight, most, connections = 0, 0, set()
for line in open(sys.argv[1]):
    m = re.search(r"connection=(\d+) (\.\.\.)?Read id=", line)
    if m:
        connections.add(m.group(1))
        in_flight += -1 if m.group(2) else 1
        most = max(most, in_flight)
print(most, len(connections))
PY
)
check "keeps its reads in flight together (most at once: $sample_in_flight)" test "$sample_in_flight" -ge 4
check "over several connections ($sample_connections)" test "$sample_connections" -ge 2

# The same export over TCP on the loopback address (nbd://): nothing new to store.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rm -f "$kpid"
nbdkit -r -i 127.0.0.1 -p "$port" -P "$kpid" file "$raw"
"$ferry" backup -r "$repo" --name many "nbd://127.0.0.1:$port/" --json >"$tmp/tcp.json" 2>"$tmp/err"
check "backup of nbd://127.0.0.1:$port/" test $? -eq 0
nbdkit_stop
check "stores nothing the unix-socket backup stored" test "$(json_field "$tmp/tcp.json" bytes_new)" -eq 0
"$ferry" restore -r "$repo" latest:many -t "$tmp/tcp.out" >/dev/null 2>&1
check "and restores byte-exact" cmp -s "$raw" "$tmp/tcp.out"

params=(error-pread=EIO error-pread-rate=10%)
nbdkit_serve --filter=error
"$ferry" backup -r "$repo" --name many "$uri" --json >/dev/null 2>"$tmp/err"
check "a read failing mid-stream fails the backup" test $? -eq 1
check "naming the export and the offset" grep -q "read at offset [0-9]* of $uri" "$tmp/err"
nbdkit_stop
count_many() {
  "$ferry" snapshots -r "$repo" --json |
    python3 -c 'import json,sys; print(sum(v["name"] == "many" for s in json.load(sys.stdin) for v in s["volumes"]))'
}
check "and adds no snapshot" test "$(count_many)" -eq 3

# A server that stops answering: reads (delayed far past the timeout), then the handshake
# (the server stopped by SIGSTOP, its socket still accepting).
params=(delay-read=60)
nbdkit_serve --filter=delay
start=$SECONDS
FERRY_NBD_TIMEOUT_SECONDS=2 "$ferry" backup -r "$repo" --name many "$uri" >/dev/null 2>"$tmp/err"
check "a server that stops answering reads fails the backup" test $? -eq 1
check "... in seconds ($((SECONDS - start)) s)" test $((SECONDS - start)) -lt 30
check "... saying so" grep -q "read at offset [0-9]* of $uri: the NBD server did not answer for 2 s" "$tmp/err"
kill -KILL "$(cat "$kpid")"
nbdkit_stop
params=()
nbdkit_serve
kill -STOP "$(cat "$kpid")"
FERRY_NBD_TIMEOUT_SECONDS=2 "$ferry" backup -r "$repo" --name many "$uri" >/dev/null 2>"$tmp/err"
check "a server that does not answer the handshake fails the backup" test $? -eq 1
check "... saying so" grep -q "connect to $uri: the NBD server did not answer for 2 s" "$tmp/err"
# Ctrl-C (SIGINT) while the server is silent stops the wait at once, not when the server
# answers or the (default, 300 s) timeout ends: the handshake of the stopped server, then reads
# delayed a minute.
cancel_backup() {  # cancel_backup NAME READY...: SIGINT a backup of $uri once READY succeeds
  local name=$1; shift
  "$ferry" backup -r "$repo" --name many "$uri" >/dev/null 2>"$tmp/err" &
  local pid=$! tries=0
  until "$@" || [[ $((tries += 1)) -gt 600 ]]; do sleep 0.1; done
  kill -INT "$pid"
  local start=$SECONDS
  wait "$pid"
  local rc=$?
  check "$name: cancelled (exit $rc)" test "$rc" -eq 130
  check "... in seconds ($((SECONDS - start)) s)" test $((SECONDS - start)) -lt 15
  check "... saying so" grep -q "cancelled while waiting for the NBD server" "$tmp/err"
}
# (Whenever the signal comes before or during the handshake, the handshake's wait is what it
# ends: nothing before it looks at the cancel token.)
cancel_backup "Ctrl-C while the server does not answer the handshake" sleep 2
kill -KILL "$(cat "$kpid")"
nbdkit_stop
rm -f "$tmp/nbdkit.log"
params=("logfile=$tmp/nbdkit.log" delay-read=60)
nbdkit_serve --filter=log --filter=delay
cancel_backup "Ctrl-C while a read is not answered" grep -q "Read id=" "$tmp/nbdkit.log"
kill -KILL "$(cat "$kpid")"
nbdkit_stop
check "and adds no snapshot" test "$(count_many)" -eq 3

# --- errors ----------------------------------------------------------------------------------
"$ferry" backup -r "$repo" --name vm "$uri" >/dev/null 2>"$tmp/err"
check "an unreachable server fails" test $? -eq 1
check "naming the URI" grep -q "connect to $uri" "$tmp/err"
"$ferry" changes "$tmp/ref2.raw" --cbt nbd-bitmap:b0 >/dev/null 2>"$tmp/err"
check "nbd-bitmap of a file is a usage error" test $? -eq 2
"$ferry" check -r "$repo" --read-data >/dev/null 2>&1
check "the repository checks clean" test $? -eq 0

finish "NBD CLI"
