#!/usr/bin/env bash
# NBD exports as backup sources and qemu:dirty-bitmap:NAME as a change source, against a real
# qemu-nbd on a unix socket in this test's directory (nothing listens on the network): a full
# backup reads only what base:allocation calls allocated, an incremental reads around what the
# exported bitmap calls dirty, and both restore to what qemu-img convert makes of the image.
# Usage: nbd_cli_test.sh FERRY_BINARY
set -u
ferry=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
require qemu-img qemu-io qemu-nbd nbdinfo
sock=$tmp/nbd.sock
pidfile=$tmp/nbd.pid
uri="nbd+unix:///?socket=$sock"
serve() {  # serve IMAGE: export it read-only with bitmap b0, to several clients until stopped
  qemu-nbd -r -t -e 8 -f qcow2 -B b0 -k "$sock" --pid-file "$pidfile" --fork "$1"
}
stop() {
  [[ -f $pidfile ]] || return 0
  local pid; pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  rm -f "$pidfile"
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

# --- errors ----------------------------------------------------------------------------------
"$ferry" backup -r "$repo" --name vm "$uri" >/dev/null 2>"$tmp/err"
check "an unreachable server fails" test $? -eq 1
check "naming the URI" grep -q "connect to $uri" "$tmp/err"
"$ferry" changes "$tmp/ref2.raw" --cbt nbd-bitmap:b0 >/dev/null 2>"$tmp/err"
check "nbd-bitmap of a file is a usage error" test $? -eq 2
"$ferry" check -r "$repo" --read-data >/dev/null 2>&1
check "the repository checks clean" test $? -eq 0

finish "NBD CLI"
