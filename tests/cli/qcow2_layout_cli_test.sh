#!/usr/bin/env bash
# The qcow2 layout (docs/FORMAT.md §11) through the CLI, judged by QEMU's own tools: every
# backup is a QCOW2 overlay of the one before that `qemu-img convert` alone restores byte for
# byte (also from a copy of the directory made elsewhere); `qemu-img check` finds every image
# clean; CBT incrementals read only what changed; forgetting a backup in the middle (or the
# first) merges it into its successor and every remaining backup still restores exactly; an
# interrupted forget is safe and finished by the next; bad input is refused before anything
# is written.
# Usage: qcow2_layout_cli_test.sh FERRY_BINARY
set -u
ferry=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
require qemu-img qemu-io
repo=$tmp/layout
vol=$tmp/vol/disk0
mkdir -p "$tmp/vol"
ids() {  # the snapshots of volume disk0, oldest first
  "$ferry" snapshots -r "$repo" --json | python3 -c '
import json, sys
print(" ".join(s["id"] for s in json.load(sys.stdin) if any(v["name"] == "disk0" for v in s["volumes"])))'
}
image_of() { echo "$repo/volumes/disk0/$1.qcow2"; }
poke() {  # poke FILE OFFSET LENGTH BYTE|random: overwrite in place
  python3 - "$@" <<'PY'
import os, sys
path, off, n, what = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with open(path, "r+b") as f:
    f.seek(off)
    f.write(os.urandom(n) if what == "random" else bytes([int(what)]) * n)
PY
}
# Every image clean by qemu-img check, and each snapshot restored by qemu-img alone equal to
# the copy of the volume kept when it was backed up ($tmp/v-<id>).
all_restore_exactly() {
  local id ok=0
  for id in $(ids); do
    qemu-img check -q "$(image_of "$id")" || { echo "qemu-img check: $id"; ok=1; }
    rm -f "$tmp/q.raw"
    qemu-img convert -O raw "$(image_of "$id")" "$tmp/q.raw" &&
      cmp -s "$tmp/q.raw" "$tmp/v-$id" || { echo "differs: $id"; ok=1; }
  done
  return $ok
}
backup() {  # backup ARGS...: a backup of $vol; keeps a copy of the volume under its id
  "$ferry" backup -r "$repo" "$vol" --json "$@" >"$tmp/b.json" 2>"$tmp/b.err" || return 1
  local id
  id=$(json_field "$tmp/b.json" snapshot)
  cp --sparse=always "$vol" "$tmp/v-$id"
}
vfield() {  # vfield KEY: a field of the first volume of the last backup's JSON
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["volumes"][0][sys.argv[2]])' "$tmp/b.json" "$1"
}

# --- init -------------------------------------------------------------------------------------
"$ferry" init -r "$tmp/bad" --layout qcow2 --encryption none >/dev/null 2>"$tmp/err"
check "dedup-only options are refused (exit 2)" test $? -eq 2
check "... saying which" grep -q -- "--encryption" "$tmp/err"
"$ferry" init -r "$tmp/bad" --layout qcow2 --cluster-size 3000 >/dev/null 2>&1
check "a bad cluster size is refused (exit 2)" test $? -eq 2
"$ferry" init -r "$repo" --layout qcow2 >/dev/null 2>"$tmp/err"
check "init --layout qcow2" test $? -eq 0
"$ferry" init -r "$repo" --layout qcow2 >/dev/null 2>"$tmp/err"
check "init refuses a directory that is not empty" test $? -ne 0
check "no passphrase is asked for" sh -c "FERRY_PASSWORD= '$ferry' snapshots -r '$repo' </dev/null >/dev/null"

# --- a chain of backups ----------------------------------------------------------------------
python3 "$here/../../scripts/make-volume.py" "$vol" 48 5
truncate -s 64M "$vol"  # a hole at the end
backup
check "the first backup is a full image" test "$(vfield backing)" = None
first=$(json_field "$tmp/b.json" snapshot)

poke "$vol" $((3 << 20)) 100000 random
poke "$vol" $((10 << 20)) 300000 0        # zeros over data: zero clusters
poke "$vol" $((60 << 20)) 5000 7          # data in the hole
backup
check "an incremental (hash) backup" test $? -eq 0
check "... is an overlay of the first" test "$(vfield backing)" = "$first.qcow2"
check "... storing only the changed clusters" test "$(vfield clusters)" -le 4
second=$(json_field "$tmp/b.json" snapshot)

# A CBT incremental: only the listed ranges are read.
poke "$vol" $((20 << 20)) 70000 random
poke "$vol" $((40 << 20)) 1000 9
printf '%d %d\n%d %d\n' $((20 << 20)) 70000 $((40 << 20)) 1000 >"$tmp/cbt.txt"
backup --cbt "list:$tmp/cbt.txt"
check "a CBT incremental" test $? -eq 0
check "... read only the changed clusters (3 of 64 KiB)" test "$(vfield bytes_read)" -eq $((3 << 16))
check "... records its change source" python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))["volumes"][0]
assert v["incremental"]["cbt"].startswith("list:") and v["incremental"]["changed_bytes"] == 71000, v' "$tmp/b.json"
third=$(json_field "$tmp/b.json" snapshot)

# A volume that grew.
truncate -s 80M "$vol"
poke "$vol" $((70 << 20)) 4096 3
backup
check "a backup of a volume that grew" test $? -eq 0
fourth=$(json_field "$tmp/b.json" snapshot)

check "ferry check passes" "$ferry" check -r "$repo" --read-data
check "every snapshot restores exactly with qemu-img alone" all_restore_exactly
chain=$(qemu-img info --backing-chain "$(image_of "$fourth")" | grep -c '^image:')
check "qemu-img sees a chain of four images" test "$chain" -eq 4
cp -a "$repo" "$tmp/elsewhere"
qemu-img convert -O raw "$tmp/elsewhere/volumes/disk0/$fourth.qcow2" "$tmp/moved.raw"
check "a copy of the directory restores elsewhere (relative backing names)" \
  cmp -s "$tmp/moved.raw" "$tmp/v-$fourth"
# ferry itself restores and checks such a copy on read-only media, where it cannot make the
# lock file that keeps forget apart from other jobs (and no forget can run).
rm -f "$tmp/elsewhere/lock"
if command -v unshare >/dev/null && unshare -m true 2>/dev/null; then
  unshare -m bash -c "mount --bind '$tmp/elsewhere' '$tmp/elsewhere' &&
    mount -o remount,bind,ro '$tmp/elsewhere' &&
    { '$ferry' restore -r '$tmp/elsewhere' latest -t '$tmp/ro.raw' >/dev/null 2>'$tmp/err.ro';
      echo \$? >'$tmp/rc.ro'; '$ferry' check -r '$tmp/elsewhere' >/dev/null 2>&1; echo \$? >'$tmp/rc.ro.check'; }"
  check "ferry restores from a read-only copy" test "$(cat "$tmp/rc.ro")" -eq 0
  check "... exactly" cmp -s "$tmp/ro.raw" "$tmp/v-$fourth"
  check "... and checks it" test "$(cat "$tmp/rc.ro.check")" -eq 0
else
  echo "skip: no mount namespaces here (read-only copy)"
fi
"$ferry" restore -r "$repo" "${second:0:8}" -t "$tmp/r2.raw" >/dev/null 2>&1
check "ferry restore of a middle snapshot" cmp -s "$tmp/r2.raw" "$tmp/v-$second"
"$ferry" restore -r "$repo" "${second:0:8}" -t "$tmp/r2.raw" >/dev/null 2>"$tmp/err"
check "restore over an existing file is refused" grep -q "r2.raw exists (remove it, or pass --overwrite)" "$tmp/err"
mkdir -p "$tmp/a-dir"
"$ferry" restore -r "$repo" latest -t "$tmp/a-dir" --overwrite >/dev/null 2>"$tmp/err"
check "restore to a directory is refused, and the directory stays" \
  test $? -eq 2 -a -d "$tmp/a-dir" -a -n "$(grep "a-dir is a directory" "$tmp/err")"
mkfifo "$tmp/a-pipe"
"$ferry" restore -r "$repo" latest -t "$tmp/a-pipe" --overwrite >/dev/null 2>"$tmp/err"
check "restore to a pipe is refused, and the pipe stays (never replaced by a file)" \
  test $? -eq 2 -a -p "$tmp/a-pipe" -a -n "$(grep "a-pipe is a pipe" "$tmp/err")"
# restore --delta: a copy that drifted is rolled back by writing only the blocks that differ.
drift() {
  cp "$tmp/v-$fourth" "$tmp/drift.raw"
  poke "$tmp/drift.raw" $((1 << 20)) 100 random
  poke "$tmp/drift.raw" $((33 << 20)) 5000 random
}
drift
"$ferry" restore -r "$repo" latest -t "$tmp/drift.raw" --delta --json >"$tmp/d.json" 2>"$tmp/err"
check "restore --delta rolls a drifted copy back" cmp -s "$tmp/drift.raw" "$tmp/v-$fourth"
check "... writing only the three blocks that differ" \
  test "$(json_field "$tmp/d.json" bytes_written)" -eq $((3 * 4096))
drift
printf '%d %d\n%d %d\n' $((1 << 20)) 100 $((33 << 20)) 5000 >"$tmp/drift.txt"
"$ferry" restore -r "$repo" latest -t "$tmp/drift.raw" --delta --cbt "list:$tmp/drift.txt" \
  --json >"$tmp/d.json" 2>"$tmp/err"
check "restore --delta --cbt rolls it back too" cmp -s "$tmp/drift.raw" "$tmp/v-$fourth"
check "... reading only the listed blocks" \
  test "$(json_field "$tmp/d.json" bytes_compared)" -eq $((3 * 4096))
"$ferry" restore -r "$repo" latest -t "$tmp/drift.raw" --cbt "list:$tmp/drift.txt" >/dev/null 2>&1
check "restore --cbt without --delta is refused (exit 2)" test $? -eq 2
if loopdev=$(losetup -f --show "$tmp/drift.raw" 2>/dev/null); then
  dd if=/dev/urandom of="$loopdev" bs=4k count=3 seek=1000 status=none conv=fsync
  "$ferry" restore -r "$repo" latest -t "$loopdev" --delta --json >"$tmp/d.json" 2>"$tmp/err"
  check "restore --delta onto a block device" cmp -s "$tmp/v-$fourth" "$loopdev"
  check "... writing only the three blocks that differ" \
    test "$(json_field "$tmp/d.json" bytes_written)" -eq $((3 * 4096))
  losetup -d "$loopdev"
else
  echo "skip: no loop device here (delta restore onto a block device)"
fi
"$ferry" restore -r "$repo" latest -t "$tmp/r4.qcow2" --format qcow2 --compress zstd >/dev/null 2>&1
check "ferry restore to a standalone QCOW2 image" qemu-img compare -q "$tmp/r4.qcow2" "$tmp/v-$fourth"

# A QCOW2 guest disk with a persistent dirty bitmap: its incrementals read only what it lists.
vm=$tmp/vol/vm.qcow2
qemu-img create -q -f qcow2 "$vm" 32M
qemu-io -f qcow2 -c "write -P 0x11 0 8M" -c "write -P 0x22 20M 2M" "$vm" >/dev/null
"$ferry" backup -r "$repo" "$vm" --json >"$tmp/vm1.json" 2>/dev/null
check "a QCOW2 source: full image of what it holds (10 MiB read)" python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))["volumes"][0]
assert v["bytes_read"] == 10 << 20 and v["source_format"] == "qcow2", v' "$tmp/vm1.json"
qemu-img bitmap --add --enable "$vm" b0
qemu-io -f qcow2 -c "write -P 0x33 1M 64k" -c "write -z 21M 64k" -c "write -P 0x44 30M 128k" "$vm" >/dev/null
"$ferry" backup -r "$repo" "$vm" --cbt qcow2-bitmap:b0 --json >"$tmp/vm2.json" 2>/dev/null
check "... a qcow2-bitmap incremental reads only the 4 dirty clusters" python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))["volumes"][0]
assert v["bytes_read"] == 4 << 16 and v["incremental"]["cbt"] == "qcow2-bitmap:b0", v' "$tmp/vm2.json"
vm2=$(json_field "$tmp/vm2.json" snapshot)
check "... and qemu-img finds its image identical to the guest disk" \
  qemu-img compare -q "$repo/volumes/vm.qcow2/$vm2.qcow2" "$vm"

# --- forgetting ----------------------------------------------------------------------------------
# Another job holds the directory (a process holding the lock as ferry does stands in for a
# long backup): forget refuses at once and changes nothing; a check started during a forget
# (the lock held alone) waits for it.
hold_lock() {  # hold_lock -s|-x SECONDS: holds $repo/lock in the background; $holder is its PID
  bash -c 'exec 9>>"$1" && flock "$2" 9 && exec sleep "$3"' _ "$repo/lock" "$1" "$2" &
  holder=$!
  # Returns once the lock is held (an exclusive try fails), however slowly the holder starts.
  while [[ ! -e $repo/lock ]] || flock -n -x "$repo/lock" true; do sleep 0.05; done
}
hold_lock -s 30
before_forget=$(find "$repo" -type f ! -name lock | sort | md5sum)
"$ferry" forget -r "$repo" "${second:0:8}" >/dev/null 2>"$tmp/err"
check "forget beside a running job fails (exit 1)" test $? -eq 1
check "... saying why" grep -q "is in use by another ferry job" "$tmp/err"
check "... and changes nothing" test "$(find "$repo" -type f ! -name lock | sort | md5sum)" = "$before_forget"
kill "$holder"; wait "$holder" 2>/dev/null
hold_lock -x 2
"$ferry" check -r "$repo" >/dev/null 2>"$tmp/err"
check "a check during a forget waits for it, then passes" test $? -eq 0
check "... saying so" grep -q "waiting for a forget in $repo to finish" "$tmp/err"
wait "$holder"
"$ferry" forget -r "$repo" "${second:0:8}" --json >"$tmp/f.json" 2>"$tmp/err"
check "forget a middle backup" test $? -eq 0
check "... merged it into its successor" test "$(json_field "$tmp/f.json" merged)" -eq 1
check "... its image is gone" test ! -e "$(image_of "$second")"
check "... the successor now stands on the first" sh -c \
  "qemu-img info '$(image_of "$third")' | grep -q 'backing file: $first.qcow2'"
check "every remaining snapshot restores exactly" all_restore_exactly
check "ferry check passes after the merge" "$ferry" check -r "$repo"

"$ferry" forget -r "$repo" "${first:0:8}" >/dev/null 2>&1
check "forget the first (full) backup" test $? -eq 0
check "... its successor became a full image" sh -c \
  "! qemu-img info '$(image_of "$third")' | grep -q 'backing file'"
check "every remaining snapshot restores exactly" all_restore_exactly

# An interrupted forget: the sidecar went, the merge did not happen; a partial file is left.
rm "$repo/volumes/disk0/$third.json"
echo junk >"$(image_of "$fourth").partial"
"$ferry" check -r "$repo" >"$tmp/check.out" 2>&1
check "check accepts an interrupted forget (exit 0)" test $? -eq 0
check "... and warns about the orphan" grep -q "no snapshot names this image" "$tmp/check.out"
check "the remaining snapshot restores exactly meanwhile" all_restore_exactly
"$ferry" forget -r "$repo" --json >"$tmp/f.json" 2>&1
check "forget with no snapshot finishes the work" test "$(json_field "$tmp/f.json" merged)" -eq 1
check "... and clears the leftovers" test "$(ls "$repo/volumes/disk0" | wc -l)" -eq 2
check "every remaining snapshot restores exactly" all_restore_exactly
"$ferry" check -r "$repo" >"$tmp/check.out" 2>&1
check "check is clean again" sh -c "! grep -q warning '$tmp/check.out'"

# --- chains of bounded length: a full image every N backups, or when asked --------------------
main_repo=$repo
repo=$tmp/chain
"$ferry" init -r "$repo" --layout qcow2 --full-every 2 >/dev/null 2>&1
check "init --full-every 2" grep -q '"full_every": 2' "$repo/config"
kinds=""
for round in 1 2 3 4; do
  poke "$vol" $((round << 16)) 4096 random
  backup
  kinds+="$( [[ $(vfield backing) == None ]] && echo F || echo O)"
  [[ $round == 3 ]] && cp "$tmp/b.err" "$tmp/third.err"
done
check "chains of at most two images: full, overlay, full, overlay ($kinds)" test "$kinds" = FOFO
check "... saying why the third is full" \
  grep -q "disk0: a full image: the chain of the latest backup holds 2 image(s)" "$tmp/third.err"
backup --full
check "backup --full writes a full image" test "$(vfield backing)" = None
check "every snapshot of the bounded chains restores exactly" all_restore_exactly
check "... and ferry check passes" "$ferry" check -r "$repo"

# --- --cbt-verify: a change source that misses a change is caught -----------------------------
repo=$tmp/verify
"$ferry" init -r "$repo" --layout qcow2 >/dev/null 2>&1
backup
poke "$vol" $((5 << 20)) 70000 random
printf '%d %d\n' $((5 << 20)) 70000 >"$tmp/cbt.txt"
backup --cbt "list:$tmp/cbt.txt" --cbt-verify 100
check "a truthful change source passes --cbt-verify" test $? -eq 0
check "... recording what it compared" python3 -c '
import json, sys
i = json.load(open(sys.argv[1]))["volumes"][0]["incremental"]
assert i["verify_percent"] == 100 and i["verified_bytes"] > 0 and i["mismatches"] == 0, i
assert not i["fell_back"], i' "$tmp/b.json"
check "... and no warning" test ! -s "$tmp/b.err"
poke "$vol" $((30 << 20)) 3000 random  # a change the list below leaves out
printf '%d %d\n' $((5 << 20)) 4096 >"$tmp/cbt.txt"
backup --cbt "list:$tmp/cbt.txt" --cbt-verify 100
check "a change source that missed a change still gives a backup" test $? -eq 0
check "... with a loud warning" grep -q "WARNING: the change source list:.* is wrong" "$tmp/b.err"
check "... recorded in the sidecar as a fall back" python3 -c '
import json, sys
i = json.load(open(sys.argv[1]))["volumes"][0]["incremental"]
assert i["fell_back"] and i["mismatches"] >= 1 and i["verify_percent"] == 100, i' "$tmp/b.json"
check "... holding the change the list missed (qemu-img alone)" all_restore_exactly
"$ferry" backup -r "$repo" "$vol" --cbt "list:$tmp/cbt.txt" --cbt-verify 101 >/dev/null 2>"$tmp/err"
check "--cbt-verify above 100 is refused (exit 2)" test $? -eq 2
repo=$main_repo
"$ferry" init -r "$tmp/dd" --full-every 3 >/dev/null 2>"$tmp/err"
check "--full-every without --layout qcow2 is refused (exit 2)" test $? -eq 2
"$ferry" init -r "$tmp/dd" --layout qcow2 --full-every 0 >/dev/null 2>&1
check "--full-every 0 is refused (exit 2)" test $? -eq 2

# --- bad input: refused before anything is written --------------------------------------------
before=$(find "$repo" -type f | sort | md5sum)
cat "$vol" | "$ferry" backup -r "$repo" - --name disk0 >/dev/null 2>"$tmp/err"
check "a pipe is refused (exit 2)" test $? -eq 2
check "... saying why" grep -q "not a pipe" "$tmp/err"
"$ferry" backup -r "$repo" "$vol" --name .hidden >/dev/null 2>"$tmp/err"
check "a volume name starting with '.' is refused (exit 2)" test $? -eq 2
"$ferry" backup -r "$repo" "$vol" --parent "${fourth:0:8}" >/dev/null 2>&1
check "--parent SNAPSHOT is refused (exit 2)" test $? -eq 2
echo "$((100 << 20)) 4096" >"$tmp/far.txt"
"$ferry" backup -r "$repo" "$vol" --cbt "list:$tmp/far.txt" >/dev/null 2>"$tmp/err"
check "a CBT past the volume's end is refused (exit 2)" test $? -eq 2
"$ferry" backup -r "$repo" "$tmp/missing" >/dev/null 2>"$tmp/err"
check "a missing source fails (exit 1)" test $? -eq 1
check "nothing was written by the refused backups" test "$(find "$repo" -type f | sort | md5sum)" = "$before"
"$ferry" restore -r "$repo" latest -t "$tmp/r4.raw" --backing x >/dev/null 2>&1
check "restore --backing is refused (exit 2)" test $? -eq 2

finish qcow2-layout
