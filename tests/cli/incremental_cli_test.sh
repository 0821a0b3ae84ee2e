#!/usr/bin/env bash
# End-to-end tests of incremental backups and delta restores through the CLI: change lists in
# text and CSI JSON, --parent auto/latest/ID, --cbt-verify catching a lying change source, a
# backup's own compression level, bad change sources refused before anything is written.
# Usage: incremental_cli_test.sh FERRY_BINARY
set -u
ferry=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
snapshot_count() { "$ferry" snapshots -r "$repo" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

export FERRY_PASSWORD=incremental
repo=$tmp/repo
python3 "$here/../../scripts/make-volume.py" "$tmp/disk.img" 32 5
"$ferry" init -r "$repo" >/dev/null 2>&1
"$ferry" backup -r "$repo" --name disk "$tmp/disk.img" --json >"$tmp/full.json" 2>/dev/null
check "full backup" test $? -eq 0
full_id=$(json_field "$tmp/full.json" snapshot)

# --- a text change list ---------------------------------------------------------------------
head -c 8192 /dev/urandom | dd of="$tmp/disk.img" bs=4096 seek=1000 conv=notrunc status=none
head -c 4096 /dev/urandom | dd of="$tmp/disk.img" bs=4096 seek=6000 conv=notrunc status=none
printf '# offset length\n%d %d\n%d,%d\n' $((1000 * 4096)) 8192 $((6000 * 4096)) 4096 >"$tmp/changes.txt"
"$ferry" backup -r "$repo" --name disk "$tmp/disk.img" --parent auto --cbt "list:$tmp/changes.txt" \
  --json >"$tmp/inc.json" 2>"$tmp/err"
check "incremental backup from a change list" test $? -eq 0
check "it names its parent" test "$(json_field "$tmp/inc.json" parent)" = "$full_id"
check "it reads little of the 32 MiB volume" test "$(json_field "$tmp/inc.json" bytes_read)" -lt $((4 << 20))
"$ferry" restore -r "$repo" latest -t "$tmp/r1.img" >/dev/null 2>&1
check "the incremental restores byte-exact" cmp -s "$tmp/disk.img" "$tmp/r1.img"
check "snapshots shows the parent and the change source" python3 -c '
import json, subprocess, sys
last = json.loads(subprocess.check_output([sys.argv[1], "snapshots", "-r", sys.argv[2], "--json"]))[-1]
assert last["parent"] == sys.argv[3], last
assert last["volumes"][0]["incremental"]["cbt"].startswith("list:"), last' "$ferry" "$repo" "$full_id"

# --- CSI GetMetadataDelta JSON, parent named by id prefix ----------------------------------
inc_id=$(json_field "$tmp/inc.json" snapshot)
head -c 65536 /dev/urandom | dd of="$tmp/disk.img" bs=65536 seek=100 conv=notrunc status=none
size=$(stat -c %s "$tmp/disk.img")
printf '{"block_metadata_type":"FIXED_LENGTH","volume_capacity_bytes":"%d","block_metadata":[{"byte_offset":"%d","size_bytes":"65536"}]}\n' \
  "$size" $((100 * 65536)) >"$tmp/delta.json"
"$ferry" backup -r "$repo" --name disk "$tmp/disk.img" --parent "${inc_id:0:8}" --cbt "csi:$tmp/delta.json" \
  >"$tmp/out" 2>&1
check "incremental backup from CSI JSON" grep -q "saved (incremental from ${inc_id:0:8})" "$tmp/out"
"$ferry" restore -r "$repo" latest -t "$tmp/r2.img" >/dev/null 2>&1
check "and restores byte-exact" cmp -s "$tmp/disk.img" "$tmp/r2.img"

# --- options after the source (regression: --tag swallowed the source that followed it) ------
"$ferry" backup -r "$repo" --tag a "$tmp/disk.img" --name disk --tag b --parent auto >/dev/null 2>"$tmp/err"
check "options may follow the source" test $? -eq 0
check "both tags kept" test "$("$ferry" snapshots -r "$repo" --json | python3 -c 'import json,sys; print(",".join(json.load(sys.stdin)[-1]["tags"]))')" = "a,b"

# --- no change tracking: --parent alone compares block hashes ------------------------------
head -c 20000 /dev/urandom | dd of="$tmp/disk.img" bs=1 seek=$((20 << 20)) conv=notrunc status=none
"$ferry" backup -r "$repo" --name disk "$tmp/disk.img" --parent latest --json >"$tmp/h.json" 2>"$tmp/err"
check "incremental backup by block hashes" test $? -eq 0
check "it stores about the change" test "$(json_field "$tmp/h.json" bytes_new)" -lt $((2 << 20))
"$ferry" restore -r "$repo" latest -t "$tmp/rh.img" >/dev/null 2>&1
check "and restores byte-exact" cmp -s "$tmp/disk.img" "$tmp/rh.img"

# --- a change source that lies is caught by --cbt-verify ------------------------------------
for block in 10 300 2000 5000 7000; do
  printf 'silent' | dd of="$tmp/disk.img" bs=1 seek=$((block * 4096)) conv=notrunc status=none
done
: >"$tmp/nothing.txt"
"$ferry" backup -r "$repo" --name disk "$tmp/disk.img" --parent latest --cbt "list:$tmp/nothing.txt" \
  --cbt-verify 100 --json >"$tmp/v.json" 2>"$tmp/err"
check "a lying change source still gives a backup" test $? -eq 0
check "with a loud warning" grep -q "WARNING: the change source list:.* is wrong" "$tmp/err"
check "recorded as a fall back" test "$(json_field "$tmp/v.json" cbt_fell_back)" = "True"
"$ferry" restore -r "$repo" latest -t "$tmp/r3.img" >/dev/null 2>&1
check "that backup holds the real content" cmp -s "$tmp/disk.img" "$tmp/r3.img"

# --- a compression level of the backup's own -----------------------------------------------
yes "a line of text that compresses well" | head -c $((1 << 20)) |
  dd of="$tmp/disk.img" bs=4096 seek=2000 conv=notrunc status=none
"$ferry" backup -r "$repo" --name disk "$tmp/disk.img" --parent latest --compression 0 --json \
  >"$tmp/c0.json" 2>"$tmp/err"
check "an incremental stored uncompressed" test $? -eq 0
check "stores the text as it is" test "$(json_field "$tmp/c0.json" bytes_stored)" -ge "$(json_field "$tmp/c0.json" bytes_new)"
"$ferry" restore -r "$repo" latest -t "$tmp/rc.img" >/dev/null 2>&1
check "and restores byte-exact" cmp -s "$tmp/disk.img" "$tmp/rc.img"
yes "another line of text, also compressible" | head -c $((1 << 20)) |
  dd of="$tmp/disk.img" bs=4096 seek=2500 conv=notrunc status=none
"$ferry" backup -r "$repo" --name disk "$tmp/disk.img" --parent latest --compression 1 --json \
  >"$tmp/c1.json" 2>"$tmp/err"
# New: the text and the random chunks around it (a third of it, which does not compress).
check "an incremental at zstd level 1 compresses" test "$(json_field "$tmp/c1.json" bytes_stored)" -lt $(( $(json_field "$tmp/c1.json" bytes_new) / 2 ))
"$ferry" restore -r "$repo" latest -t "$tmp/rc1.img" >/dev/null 2>&1
check "and restores byte-exact" cmp -s "$tmp/disk.img" "$tmp/rc1.img"
count=$(snapshot_count)
"$ferry" backup -r "$repo" --name disk "$tmp/disk.img" --parent latest --compression 25 >/dev/null 2>"$tmp/err"
check "a level zstd lacks exits 2" test $? -eq 2
check "naming the level and the range" grep -q "compression level 25 is out of range: 0 (store uncompressed) to 19" "$tmp/err"
check "and adds no snapshot" test "$(snapshot_count)" -eq "$count"

# --- the repository's level for incrementals ----------------------------------------------
"$ferry" init -r "$tmp/lv-default" 2>"$tmp/init.err" >/dev/null
check "init says incrementals store at level 1" grep -q "zstd level 3, 1 for incrementals" "$tmp/init.err"
"$ferry" init -r "$tmp/lv-5" --compression 5 2>"$tmp/init.err" >/dev/null
check "a level asked for at init is kept for incrementals" grep -q "zstd level 5, 5 for incrementals" "$tmp/init.err"
"$ferry" init -r "$tmp/lv-5-2" --compression 5 --incremental-compression 2 2>"$tmp/init.err" >/dev/null
check "unless init asks for another" grep -q "zstd level 5, 2 for incrementals" "$tmp/init.err"
"$ferry" init -r "$tmp/lv-bad" --incremental-compression 25 >/dev/null 2>"$tmp/err"
check "a level zstd lacks at init exits 2" test $? -eq 2
check "naming it" grep -q "incremental compression level 25 is out of range" "$tmp/err"
check "and creates no repository" test ! -e "$tmp/lv-bad/config"
# The same incremental in the default repository and in one kept at level 3 for incrementals.
for r in lv-default lv-3; do
  test -d "$tmp/$r" || "$ferry" init -r "$tmp/$r" --incremental-compression 3 >/dev/null 2>&1
  cp "$tmp/disk.img" "$tmp/lv.img"
  "$ferry" backup -r "$tmp/$r" --name disk "$tmp/lv.img" >/dev/null 2>&1
  python3 -c '
import random, sys
words = "the of and to in is that for it as was with be by on not he this are or his from at".split()
rng = random.Random(7)
sys.stdout.write(" ".join(rng.choice(words) + str(rng.randrange(100)) for _ in range(600000))[:2 << 20])' |
    dd of="$tmp/lv.img" bs=4096 seek=3000 conv=notrunc status=none
  printf '%d %d\n' $((3000 * 4096)) $((2 << 20)) >"$tmp/lv-changes.txt"
  "$ferry" backup -r "$tmp/$r" --name disk "$tmp/lv.img" --parent auto \
    --cbt "list:$tmp/lv-changes.txt" --json >"$tmp/$r.json" 2>/dev/null
  check "an incremental into $r" test $? -eq 0
  "$ferry" restore -r "$tmp/$r" latest -t "$tmp/$r-restored.img" >/dev/null 2>&1
  check "restores byte-exact from $r" cmp -s "$tmp/lv.img" "$tmp/$r-restored.img"
done
check "the default level 1 stores more than level 3" test "$(json_field "$tmp/lv-default.json" bytes_stored)" -gt "$(json_field "$tmp/lv-3.json" bytes_stored)"

# --- bad change sources: clear errors, nothing written --------------------------------------
before=$(snapshot_count)

packs_before=$(find "$repo/data" -type f | wc -l)
printf '0 4096\nnonsense\n' >"$tmp/bad.txt"
"$ferry" backup -r "$repo" --name disk "$tmp/disk.img" --parent auto --cbt "list:$tmp/bad.txt" >/dev/null 2>"$tmp/err"
check "a malformed list exits 2" test $? -eq 2
check "naming the line" grep -q "list:$tmp/bad.txt line 2" "$tmp/err"
printf '%d 4096\n' $((size + 4096)) >"$tmp/far.txt"
"$ferry" backup -r "$repo" --name disk "$tmp/disk.img" --parent auto --cbt "list:$tmp/far.txt" >/dev/null 2>"$tmp/err"
check "a list past the volume's end is refused" grep -q "reaches past the volume's end" "$tmp/err"
sed "s/\"$size\"/\"$((size * 2))\"/" "$tmp/delta.json" >"$tmp/other.json"
"$ferry" backup -r "$repo" --name disk "$tmp/disk.img" --parent auto --cbt "csi:$tmp/other.json" >/dev/null 2>"$tmp/err"
check "CSI of another volume is refused" grep -q "it belongs to another volume" "$tmp/err"
"$ferry" changes --cbt "list:$tmp/far.txt" "$tmp/disk.img" >"$tmp/out" 2>"$tmp/err"
check "ferry changes refuses a list past the volume's end too (exit 2), printing nothing" \
  test $? -eq 2 -a ! -s "$tmp/out" -a -n "$(grep "reaches past the volume's end" "$tmp/err")"
"$ferry" changes --cbt "csi:$tmp/other.json" "$tmp/disk.img" >/dev/null 2>"$tmp/err"
check "... and CSI of another volume" grep -q "it belongs to another volume" "$tmp/err"
"$ferry" backup -r "$repo" --name disk "$tmp/disk.img" --cbt "list:$tmp/changes.txt" >/dev/null 2>"$tmp/err"
check "--cbt without --parent is refused" grep -q "\-\-cbt needs \-\-parent" "$tmp/err"
"$ferry" backup -r "$repo" --name disk "$tmp/disk.img" --parent auto --cbt "bitmap:x" >/dev/null 2>"$tmp/err"
check "an unknown kind names the accepted ones" grep -q "expected list:FILE, csi:FILE" "$tmp/err"
check "no snapshot was added" test "$(snapshot_count)" -eq "$before"
check "no pack was added" test "$(find "$repo/data" -type f | wc -l)" -eq "$packs_before"
"$ferry" check -r "$repo" --read-data >/dev/null 2>&1
check "the repository checks clean" test $? -eq 0

# --- delta restore told the target's changes -----------------------------------------------
cp "$tmp/disk.img" "$tmp/live.img"
head -c 4096 /dev/urandom | dd of="$tmp/live.img" bs=4096 seek=3000 conv=notrunc status=none
printf '%d 4096\n' $((3000 * 4096)) >"$tmp/live-changes.txt"
"$ferry" restore -r "$repo" latest -t "$tmp/live.img" --delta --cbt "list:$tmp/live-changes.txt" \
  --json >"$tmp/d.json" 2>/dev/null
check "delta restore with the target's changes" cmp -s "$tmp/disk.img" "$tmp/live.img"
check "reads only around them" test "$(json_field "$tmp/d.json" bytes_compared)" -le $((8 << 20))

finish "incremental CLI"
