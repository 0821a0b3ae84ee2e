#!/usr/bin/env bash
# End-to-end tests of the repository commands with real files, real faults and real kills.
# Usage: repo_cli_test.sh FERRY_BINARY [KILL_ROUNDS]
set -u
ferry=$1
kill_rounds=${2:-5}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
make_volume() { python3 "$here/../../scripts/make-volume.py" "$1" "$2" "${3:-1}"; }

export FERRY_PASSWORD=correct-horse
repo=$tmp/repo
make_volume "$tmp/vol.img" 48 1

# --- the main path -----------------------------------------------------------------------
"$ferry" init -r "$repo" >/dev/null 2>"$tmp/err"
check "init" test $? -eq 0
"$ferry" init -r "$repo" >/dev/null 2>"$tmp/err"
check "init twice is refused" grep -q "a repository already exists at" "$tmp/err"
"$ferry" backup -r "$repo" --tag first "$tmp/vol.img" >"$tmp/out" 2>&1
check "backup" grep -q "^snapshot [0-9a-f]\{8\} saved" "$tmp/out"
first=$("$ferry" snapshots -r "$repo" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
cp "$tmp/vol.img" "$tmp/vol.first"
printf 'changed bytes' | dd of="$tmp/vol.img" bs=1 seek=5000000 conv=notrunc status=none
"$ferry" backup -r "$repo" --json "$tmp/vol.img" >"$tmp/second.json" 2>/dev/null
check "incremental stores little" python3 - "$tmp/second.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["bytes_new"] < 8 << 20 and r["bytes_read"] > 0, r
PY
"$ferry" restore -r "$repo" latest -t "$tmp/latest.img" >/dev/null 2>&1
check "restore latest is byte-exact" cmp -s "$tmp/vol.img" "$tmp/latest.img"
cp "$tmp/latest.img" "$tmp/rollback.img"
"$ferry" restore -r "$repo" "${first:0:6}" -t "$tmp/rollback.img" --delta >"$tmp/out" 2>&1
check "delta restore rolls a file back" cmp -s "$tmp/vol.first" "$tmp/rollback.img"
check "delta restore reports what it wrote" grep -q "^delta-restored .* wrote " "$tmp/out"
"$ferry" restore -r "$repo" latest -t "$tmp/absent.img" --delta >/dev/null 2>"$tmp/err"
check "delta restore needs an existing target" grep -q "does not exist: nothing to compare with" "$tmp/err"
"$ferry" restore -r "$repo" "${first:0:6}:vol.img" -t "$tmp/first.img" >/dev/null 2>&1
check "restore by id prefix and volume" cmp -s "$tmp/vol.first" "$tmp/first.img"
"$ferry" restore -r "$repo" latest -t - 2>/dev/null | cmp -s - "$tmp/vol.img"
check "restore to stdout" test "${PIPESTATUS[0]}" -eq 0
head -c 3000000 /dev/urandom >"$tmp/stream.bin"
"$ferry" backup -r "$repo" --name dump - <"$tmp/stream.bin" >/dev/null 2>&1
"$ferry" restore -r "$repo" latest:dump -t "$tmp/stream.out" >/dev/null 2>&1
check "stdin backup round trip" cmp -s "$tmp/stream.bin" "$tmp/stream.out"
"$ferry" check -r "$repo" --read-data >"$tmp/out" 2>&1
check "check --read-data passes" grep -q "^no errors:" "$tmp/out"
"$ferry" stats -r "$repo" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["snapshots"]==3, d' 2>/dev/null
check "stats counts snapshots" test $? -eq 0
# libcurl and libnbd (and their ~30 dependencies) load only for S3 and NBD: a local repository
# never maps them (common/shared_library.h).
LD_DEBUG=libs "$ferry" snapshots -r "$repo" >/dev/null 2>"$tmp/libs"
check "a local repository loads neither libcurl nor libnbd" \
  bash -c "grep -q 'calling init: .*libcrypto' '$tmp/libs' && ! grep -q 'libcurl\|libnbd' '$tmp/libs'"

# --- bad input: clear message, non-zero exit ---------------------------------------------
FERRY_PASSWORD=wrong "$ferry" snapshots -r "$repo" >/dev/null 2>"$tmp/err"
rc=$?
check "wrong passphrase exits 1" test $rc -eq 1
check "wrong passphrase says so" grep -qx "ferry: wrong passphrase" "$tmp/err"
echo correct-horse >"$tmp/pass"
FERRY_PASSWORD=wrong "$ferry" snapshots -r "$repo" --password-file "$tmp/pass" >/dev/null 2>&1
check "--password-file wins over FERRY_PASSWORD" test $? -eq 0
env -u FERRY_PASSWORD FERRY_PASSWORD_FILE="$tmp/pass" "$ferry" snapshots -r "$repo" >/dev/null 2>&1
check "FERRY_PASSWORD_FILE is read" test $? -eq 0
: >"$tmp/empty-pass"
"$ferry" snapshots -r "$repo" --password-file "$tmp/empty-pass" >/dev/null 2>"$tmp/err"
check "an empty password file is refused, exit 2, naming it" test $? -eq 2 -a \
  -n "$(grep -x "ferry: password file $tmp/empty-pass: its first line is empty" "$tmp/err")"
FERRY_PASSWORD= "$ferry" snapshots -r "$repo" >/dev/null 2>"$tmp/err" </dev/null
check "an empty FERRY_PASSWORD counts as none given" grep -q "a passphrase is needed" "$tmp/err"
"$ferry" restore -r "$repo" latest -t "" >/dev/null 2>"$tmp/err"
check "an empty --target is bad usage" test $? -eq 2 -a -n "$(grep -x -- "--target: an empty path" "$tmp/err")"
"$ferry" backup -r "$repo" "" >/dev/null 2>"$tmp/err"
check "an empty source path is bad usage" test $? -eq 2 -a -n "$(grep -x "sources: an empty path" "$tmp/err")"
"$ferry" backup -r "$repo" --name version /proc/version >/dev/null 2>"$tmp/err" &&
  "$ferry" restore -r "$repo" latest:version -t "$tmp/version" >/dev/null 2>>"$tmp/err"
cat /proc/version | cmp -s - "$tmp/version"  # (cmp -s alone trusts the size of 0.)
check "a /proc file (size 0, yet not empty) is backed up whole" test $? -eq 0 || cat "$tmp/err"
"$ferry" snapshots -r "$tmp/nowhere" >/dev/null 2>"$tmp/err"
check "missing repository" grep -q "^ferry: no ferry repository at $tmp/nowhere (no such directory; run ferry init first)$" "$tmp/err"
mkdir -p "$tmp/empty"
"$ferry" snapshots -r "$tmp/empty" >/dev/null 2>"$tmp/err"
check "not a repository" grep -q "no ferry repository at $tmp/empty (no config; run ferry init first)" "$tmp/err"
mkdir -p "$tmp/foreign" && echo '{"version":2,"id":"abc"}' >"$tmp/foreign/config"
"$ferry" snapshots -r "$tmp/foreign" >/dev/null 2>"$tmp/err"
check "foreign repository" grep -q "not a ferry repository" "$tmp/err"
"$ferry" backup -r "$repo" "$tmp/missing.img" >/dev/null 2>"$tmp/err"
rc=$?
check "missing source exits 1 naming it" test $rc -eq 1 -a -n "$(grep "open $tmp/missing.img: No such file" "$tmp/err")"
"$ferry" backup -r "$repo" "$tmp" >/dev/null 2>"$tmp/err"
check "directory source" grep -q "$tmp is a directory" "$tmp/err"
env -u FERRY_PASSWORD "$ferry" snapshots -r "$repo" </dev/null >/dev/null 2>"$tmp/err"
rc=$?
check "no passphrase source is a usage error" test $rc -eq 2
"$ferry" backup -r "$repo" --memory 8 "$tmp/vol.img" >/dev/null 2>"$tmp/err"
rc=$?
check "a memory bound below 16 MiB is a usage error" test $rc -eq 2 -a -n "$(grep 'at least 16 MiB' "$tmp/err")"
"$ferry" backup -r "$repo" --memory 16 --threads 1 "$tmp/vol.img" >/dev/null 2>&1
check "backup within 16 MiB and one thread" test $? -eq 0
"$ferry" restore -r "$repo" latest -t "$tmp/latest.img" >/dev/null 2>"$tmp/err"
check "restore refuses to overwrite" grep -q "exists (remove it, or pass --overwrite)" "$tmp/err"
mkdir -p "$tmp/a-dir"
"$ferry" restore -r "$repo" latest -t "$tmp/a-dir" --overwrite >/dev/null 2>"$tmp/err"
rc=$?
check "restore to a directory exits 2 naming it" test $rc -eq 2 -a \
  -n "$(grep -x "ferry: $tmp/a-dir is a directory: restore to a file or a block device" "$tmp/err")"
mkdir -p "$tmp/elsewhere" && cp "$tmp/vol.img" "$tmp/elsewhere/vol.img"
"$ferry" backup -r "$repo" "$tmp/vol.img" "$tmp/elsewhere/vol.img" >/dev/null 2>"$tmp/err"
check "two sources of one volume name are refused (exit 2), naming both" test $? -eq 2 -a \
  -n "$(grep "$tmp/vol.img and $tmp/elsewhere/vol.img would both be volume 'vol.img'" "$tmp/err")"
# A pipe or a character device takes the volume as a stream, without --overwrite: nothing is
# resized or replaced.
mkfifo "$tmp/a-pipe"
timeout 60 cmp "$tmp/a-pipe" "$tmp/vol.img" >/dev/null 2>&1 &
reader=$!
"$ferry" restore -r "$repo" latest -t "$tmp/a-pipe" >/dev/null 2>"$tmp/err"
rc=$?
wait "$reader"
check "restore into a pipe streams the volume" test $rc -eq 0 -a $? -eq 0 -a -p "$tmp/a-pipe"
# A reader that leaves early ends the restore (SIGPIPE, as for standard output), not a write
# into a pipe nobody reads.
(head -c 100 "$tmp/a-pipe" >/dev/null) &
timeout -k 5 60 "$ferry" restore -r "$repo" latest -t "$tmp/a-pipe" >/dev/null 2>"$tmp/err"
rc=$?
check "a pipe whose reader leaves ends the restore ($rc)" test $rc -ne 0 -a $rc -ne 124 -a $rc -ne 137
# Waiting for a reader, a restore still hears Ctrl-C; stuck writing to a reader that reads
# nothing, a second Ctrl-C ends it.
"$ferry" restore -r "$repo" latest -t "$tmp/a-pipe" >/dev/null 2>"$tmp/err" &
pid=$!
sleep 1
kill -INT "$pid"
timeout 10 tail --pid="$pid" -f /dev/null
check "Ctrl-C while waiting for a pipe's reader cancels the restore" \
  grep -q "cancelled while waiting for a reader of $tmp/a-pipe" "$tmp/err"
sleep 60 <"$tmp/a-pipe" &
idle_reader=$!
"$ferry" restore -r "$repo" latest -t "$tmp/a-pipe" >/dev/null 2>"$tmp/err" &
pid=$!
sleep 1
kill -INT "$pid"
sleep 0.5
kill -INT "$pid"
timeout 10 tail --pid="$pid" -f /dev/null
check "a second Ctrl-C ends a restore stuck in a write" test -z "$(ps -o pid= -p "$pid")"
kill "$idle_reader" 2>/dev/null
wait "$idle_reader" 2>/dev/null
"$ferry" restore -r "$repo" latest -t /dev/null >/dev/null 2>"$tmp/err"
check "restore into /dev/null (a character device)" test $? -eq 0 -a -c /dev/null
"$ferry" restore -r "$repo" latest -t "$tmp/a-pipe" --format qcow2 >/dev/null 2>"$tmp/err"
check "a QCOW2 image into a pipe is refused, naming it" test $? -eq 2 -a \
  -n "$(grep "a QCOW2 image is written to a file, not $tmp/a-pipe" "$tmp/err")"

# (A full disk, for restores and backups: full_disk_cli_test.sh.)

# --- a block device as source and as restore target (a loop device, when the machine has one)
make_volume "$tmp/disk.img" 32 3
if loopdev=$(losetup -f --show "$tmp/disk.img" 2>/dev/null); then
  "$ferry" backup -r "$repo" --name disk "$loopdev" >/dev/null 2>"$tmp/err"
  check "backup of a block device" test $? -eq 0
  "$ferry" restore -r "$repo" latest:disk -t "$tmp/disk.out" >/dev/null 2>&1
  check "block device restores byte-exact to a file" cmp -s "$tmp/disk.img" "$tmp/disk.out"
  dd if=/dev/urandom of="$loopdev" bs=1M count=32 status=none conv=fsync
  "$ferry" restore -r "$repo" latest:disk -t "$loopdev" >/dev/null 2>"$tmp/err"
  check "restore onto a block device" test $? -eq 0
  check "the device holds the volume, zero runs written" cmp -s "$tmp/disk.img" "$loopdev"
  dd if=/dev/urandom of="$loopdev" bs=4k count=3 seek=1000 status=none conv=fsync
  "$ferry" restore -r "$repo" latest:disk -t "$loopdev" --delta --json >"$tmp/delta.json" 2>"$tmp/err"
  check "delta restore onto a block device" cmp -s "$tmp/disk.img" "$loopdev"
  check "it writes only what differs" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert 12288 <= r["bytes_written"] <= 2 << 20 and r["bytes_compared"] == 32 << 20, r' "$tmp/delta.json"
  losetup -d "$loopdev"
else
  echo "skip block-device checks: no loop device here"
fi

# --- damage: a truncated pack and flipped bits are named ---------------------------------
cp -r "$repo" "$tmp/damaged"
packs=($(cd "$tmp/damaged" && ls data/*/*))
truncate -s -100 "$tmp/damaged/${packs[0]}"
for p in "${packs[@]:1}"; do
  python3 -c "
import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[64]^=0x10; open(p,'wb').write(b)" "$tmp/damaged/$p"
done
"$ferry" check -r "$tmp/damaged" >"$tmp/out" 2>&1
rc=$?
check "check fails on a truncated pack" test $rc -eq 1
check "check names the truncated pack" grep -q "${packs[0]}: bad magic" "$tmp/out"
"$ferry" check -r "$tmp/damaged" --read-data >"$tmp/out" 2>&1
check "check --read-data names a flipped pack" grep -q "${packs[1]} chunk [0-9a-f]*: authentication failed" "$tmp/out"
"$ferry" restore -r "$tmp/damaged" "$first" -t "$tmp/dmg.img" >/dev/null 2>"$tmp/err"
rc=$?
check "restore from damage fails with exit 1" test $rc -eq 1
check "restore names the damaged pack" grep -qE "ferry: data/[0-9a-f]{2}/[0-9a-f]{32}.*(authentication failed|truncated)" "$tmp/err"

# --- SIGKILL at random moments: check passes, earlier snapshots restore ------------------
kill_repo=$tmp/killrepo
"$ferry" init -r "$kill_repo" --pack-size 4 >/dev/null 2>&1
"$ferry" backup -r "$kill_repo" "$tmp/vol.first" >/dev/null 2>&1
for round in $(seq 1 "$kill_rounds"); do
  make_volume "$tmp/kill.img" 96 $((round + 10))
  "$ferry" backup -r "$kill_repo" "$tmp/kill.img" >/dev/null 2>&1 &
  pid=$!
  sleep "0.$(( (RANDOM % 9) + 1 ))"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  "$ferry" check -r "$kill_repo" --read-data >"$tmp/out" 2>&1
  check "round $round: check passes after SIGKILL" grep -q "^no errors:" "$tmp/out"
  while read -r id; do
    "$ferry" restore -r "$kill_repo" "$id" -t "$tmp/k.img" --overwrite >/dev/null 2>&1 ||
      { echo "FAIL round $round: snapshot $id does not restore"; fails=$((fails + 1)); }
  done < <("$ferry" snapshots -r "$kill_repo" --json | python3 -c 'import json,sys; [print(s["id"]) for s in json.load(sys.stdin)]')
done
"$ferry" backup -r "$kill_repo" "$tmp/kill.img" >"$tmp/out" 2>&1
check "a backup after the kills succeeds" grep -q "saved" "$tmp/out"
"$ferry" restore -r "$kill_repo" latest -t "$tmp/k.img" --overwrite >/dev/null 2>&1
check "and restores byte-exact" cmp -s "$tmp/kill.img" "$tmp/k.img"
"$ferry" restore -r "$kill_repo" "$("$ferry" snapshots -r "$kill_repo" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')" -t "$tmp/k0.img" --overwrite >/dev/null 2>&1
check "the first snapshot still restores byte-exact" cmp -s "$tmp/vol.first" "$tmp/k0.img"

finish "repository CLI"
