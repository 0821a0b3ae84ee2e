#!/usr/bin/env bash
# QCOW2 images as backup sources, and their persistent dirty bitmaps as a change source, through
# the CLI, checked against QEMU's own tools: a backup of an image restores to exactly what
# `qemu-img convert -O raw` makes of it, and `ferry changes --cbt qcow2-bitmap:NAME` lists what
# qemu-nbd exports as qemu:dirty-bitmap:NAME (read with nbdinfo).
# Usage: qcow2_cli_test.sh FERRY_BINARY
set -u
ferry=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
require qemu-img qemu-io qemu-nbd nbdinfo
qemu_io() { local img=$1; shift; local args=(); for c in "$@"; do args+=(-c "$c"); done
  qemu-io -f qcow2 "${args[@]}" "$img" >/dev/null; }
raw_of() { qemu-img convert -O raw "$1" "$2"; }

export FERRY_PASSWORD=qcow2
repo=$tmp/repo
"$ferry" init -r "$repo" >/dev/null 2>&1

# --- a compressed image with a backing chain, backed up as the guest sees it ---------------
python3 "$here/../../scripts/make-volume.py" "$tmp/base.raw" 64 3
qemu-img convert -f raw -O qcow2 -c -o compression_type=zstd "$tmp/base.raw" "$tmp/base.qcow2"
(cd "$tmp" && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 disk.qcow2 32M)
qemu_io "$tmp/disk.qcow2" "write -P 0x42 1M 3M" "write -z 8M 2M" "write -P 0x17 30M 64k"
"$ferry" backup -r "$repo" "$tmp/disk.qcow2" --json >"$tmp/b1.json" 2>"$tmp/err"
check "backup of a qcow2 chain" test $? -eq 0
"$ferry" restore -r "$repo" latest -t "$tmp/r1.raw" >/dev/null 2>&1
raw_of "$tmp/disk.qcow2" "$tmp/disk.raw"
check "restores to what qemu-img convert makes of it" cmp -s "$tmp/disk.raw" "$tmp/r1.raw"
check "the snapshot says it was read as qcow2" python3 -c '
import json, subprocess, sys
v = json.loads(subprocess.check_output([sys.argv[1], "snapshots", "-r", sys.argv[2], "--json"]))[-1]["volumes"][0]
assert v["source_format"] == "qcow2" and v["size"] == 32 << 20, v' "$ferry" "$repo"
"$ferry" backup -r "$repo" --source-format raw --name container "$tmp/disk.qcow2" >/dev/null 2>&1
"$ferry" restore -r "$repo" latest:container -t "$tmp/container" >/dev/null 2>&1
check "--source-format raw backs up the container file itself" cmp -s "$tmp/disk.qcow2" "$tmp/container"

# Only allocated clusters are read: 2 MiB of data in a 1 GiB image.
qemu-img create -q -f qcow2 "$tmp/sparse.qcow2" 1G
qemu_io "$tmp/sparse.qcow2" "write -P 1 100M 1M" "write -P 2 900M 1M"
"$ferry" backup -r "$repo" "$tmp/sparse.qcow2" --json >"$tmp/sparse.json" 2>/dev/null
check "a sparse image reads only its allocated clusters" \
  test "$(json_field "$tmp/sparse.json" bytes_read)" -le $((2 << 20))
"$ferry" restore -r "$repo" latest -t "$tmp/sparse.raw" >/dev/null 2>&1
raw_of "$tmp/sparse.qcow2" "$tmp/sparse.ref"
check "and restores byte-exact" cmp -s "$tmp/sparse.ref" "$tmp/sparse.raw"

# --- dirty bitmaps: ferry's reading against qemu-nbd's export -------------------------------
img=$tmp/vm.qcow2
qemu-img convert -f raw -O qcow2 "$tmp/base.raw" "$img"
qemu-img bitmap --add --enable "$img" b0
qemu-img bitmap --add --enable -g 4096 "$img" fine
qemu_io "$img" "write -P 0x61 100000 5000" "write -P 0x62 5242881 1" "write -z 12M 1M" \
  "write -P 0x63 40M 64k" "discard 16M 128k"
nbd_dirty() {  # nbd_dirty BITMAP: dirty ranges as qemu-nbd exports them, "offset length" merged
  local sock=$tmp/nbd.sock pidfile=$tmp/nbd.pid
  qemu-nbd -r -f qcow2 -B "$1" -k "$sock" --pid-file "$pidfile" --fork "$img"
  nbdinfo_dirty "nbd+unix:///?socket=$sock" "$1"
  kill "$(cat "$pidfile")"
  while kill -0 "$(cat "$pidfile")" 2>/dev/null; do sleep 0.05; done
}
for bitmap in b0 fine; do
  nbd_dirty $bitmap >"$tmp/nbd-$bitmap.txt"
  "$ferry" changes "$img" --cbt "qcow2-bitmap:$bitmap" >"$tmp/ferry-$bitmap.txt" 2>"$tmp/err"
  check "bitmap $bitmap: ferry reads what qemu-nbd exports" cmp -s "$tmp/nbd-$bitmap.txt" "$tmp/ferry-$bitmap.txt"
  check "bitmap $bitmap: and it is not empty" test -s "$tmp/ferry-$bitmap.txt"
done

# --- incremental backups driven by the bitmap -----------------------------------------------
"$ferry" backup -r "$repo" --name vm "$tmp/base.raw" >/dev/null 2>&1  # Parent: the state before the writes.
"$ferry" backup -r "$repo" --name vm "$img" --parent auto --cbt qcow2-bitmap:b0 --cbt-verify 5 \
  --json >"$tmp/inc.json" 2>"$tmp/err"
check "incremental backup from a qcow2 bitmap" test $? -eq 0
check "reads little of the 64 MiB volume" test "$(json_field "$tmp/inc.json" bytes_read)" -lt $((16 << 20))
check "trusts the bitmap" test "$(json_field "$tmp/inc.json" cbt_fell_back)" = "False"
"$ferry" restore -r "$repo" latest:vm -t "$tmp/vm.raw" >/dev/null 2>&1
raw_of "$img" "$tmp/vm.ref"
check "restores byte-exact" cmp -s "$tmp/vm.ref" "$tmp/vm.raw"

# A bitmap flagged in use (QEMU died with it loaded) is not trusted: full read, loud warning.
# qemu-img check calls such an image clean; ferry must not.
python3 - "$img" <<'EOF'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    header = f.read(4096)
    length = struct.unpack(">I", header[100:104])[0]
    at = length
    while True:
        kind, size = struct.unpack(">II", header[at:at + 8])
        if kind == 0x23852875:
            directory = struct.unpack(">Q", header[at + 8 + 16:at + 8 + 24])[0]
            break
        at += 8 + (size + 7) // 8 * 8
    f.seek(directory + 12)
    flags = struct.unpack(">I", f.read(4))[0]
    f.seek(directory + 12)
    f.write(struct.pack(">I", flags | 1))
EOF
qemu-img check -q "$img"
check "qemu-img check calls the in-use image clean" test $? -eq 0
"$ferry" changes "$img" --cbt qcow2-bitmap:b0 >/dev/null 2>"$tmp/err"
check "ferry changes refuses an in-use bitmap" test $? -eq 1
check "saying why" grep -q "marked in use" "$tmp/err"
qemu_io "$img" "write -P 0x64 2M 4k" 2>/dev/null || true
"$ferry" backup -r "$repo" --name vm "$img" --parent auto --cbt qcow2-bitmap:b0 --json \
  >"$tmp/dead.json" 2>"$tmp/err"
check "the backup still succeeds" test $? -eq 0
check "with a warning naming the bitmap" grep -q "WARNING: qcow2-bitmap:b0: not trusted" "$tmp/err"
check "recorded as a fall back" test "$(json_field "$tmp/dead.json" cbt_fell_back)" = "True"
"$ferry" restore -r "$repo" latest:vm -t "$tmp/vm2.raw" >/dev/null 2>&1
raw_of "$img" "$tmp/vm2.ref"
check "and holds the real content" cmp -s "$tmp/vm2.ref" "$tmp/vm2.raw"

# --- restoring as QCOW2: standalone, compressed, and a chain of overlays ----------------------
python3 "$here/../../scripts/make-volume.py" "$tmp/vol.raw" 48 11
"$ferry" backup -r "$repo" --name vol "$tmp/vol.raw" >/dev/null 2>&1
"$ferry" restore -r "$repo" latest:vol --format qcow2 -t "$tmp/vol.qcow2" >/dev/null 2>"$tmp/err"
check "restore --format qcow2" test $? -eq 0
qemu-img check -q "$tmp/vol.qcow2"
check "qemu-img check: no errors, no leaks" test $? -eq 0
check "qemu-img compare: the volume's content" qemu-img compare -q -f raw -F qcow2 "$tmp/vol.raw" "$tmp/vol.qcow2"
raw_of "$tmp/vol.qcow2" "$tmp/vol.back"
check "qemu-img convert back to raw is byte-identical" cmp -s "$tmp/vol.raw" "$tmp/vol.back"
check "holes stay holes: the image is smaller than the volume" \
  test "$(stat -c %s "$tmp/vol.qcow2")" -lt "$(stat -c %s "$tmp/vol.raw")"

"$ferry" restore -r "$repo" latest:vol --format qcow2 --compress zstd -t "$tmp/volz.qcow2" >/dev/null 2>&1
check "a zstd-compressed image checks clean" qemu-img check -q "$tmp/volz.qcow2"
check "qemu-img says its compression is zstd" grep -q "compression type: zstd" <(qemu-img info "$tmp/volz.qcow2")
check "and reads the volume" qemu-img compare -q -f raw "$tmp/vol.raw" "$tmp/volz.qcow2"
check "compressed is smaller" test "$(stat -c %s "$tmp/volz.qcow2")" -lt "$(stat -c %s "$tmp/vol.qcow2")"

cp "$tmp/vol.raw" "$tmp/vol1.raw"
head -c 300000 /dev/urandom | dd of="$tmp/vol.raw" bs=4096 seek=2000 conv=notrunc status=none
dd if=/dev/zero of="$tmp/vol.raw" bs=65536 seek=100 count=4 conv=notrunc status=none
"$ferry" backup -r "$repo" --name vol "$tmp/vol.raw" >/dev/null 2>&1
"$ferry" restore -r "$repo" latest:vol --format qcow2 --backing vol.qcow2 -t "$tmp/vol2.qcow2" \
  --json >"$tmp/overlay.json" 2>"$tmp/err"
check "restore an overlay on the previous image" test $? -eq 0
check "the overlay checks clean" qemu-img check -q "$tmp/vol2.qcow2"
check "it reads the new volume through its backing file" qemu-img compare -q -f raw "$tmp/vol.raw" "$tmp/vol2.qcow2"
check "qemu-img info --backing-chain shows the chain" python3 -c '
import json, subprocess, sys
chain = json.loads(subprocess.check_output(["qemu-img", "info", "--backing-chain", "--output=json", sys.argv[1]]))
assert [c["filename"].rsplit("/", 1)[-1] for c in chain] == ["vol2.qcow2", "vol.qcow2"], chain
assert chain[0]["backing-filename"] == "vol.qcow2", chain[0]' "$tmp/vol2.qcow2"
check "it holds only what changed" test "$(json_field "$tmp/overlay.json" clusters)" -le 12
check "the base still reads the first volume" qemu-img compare -q -f raw "$tmp/vol1.raw" "$tmp/vol.qcow2"
raw_of "$tmp/vol2.qcow2" "$tmp/vol2.back"
check "the chain converts back byte-identical" cmp -s "$tmp/vol.raw" "$tmp/vol2.back"

"$ferry" restore -r "$repo" latest:vol --format qcow2 -t - >/dev/null 2>"$tmp/err"
check "qcow2 to standard output is a usage error" test $? -eq 2
"$ferry" restore -r "$repo" latest:vol --compress zstd -t "$tmp/x.raw" >/dev/null 2>"$tmp/err"
check "--compress without --format qcow2 is refused" grep -q "need --format qcow2" "$tmp/err"
"$ferry" restore -r "$repo" latest:vol --format qcow2 --backing nope.qcow2 -t "$tmp/x.qcow2" >/dev/null 2>"$tmp/err"
check "a missing backing image is named" grep -q "backing nope.qcow2" "$tmp/err"
check "and no image is left half made" test ! -e "$tmp/x.qcow2"
"$ferry" backup -r "$repo" --name fromchain "$tmp/vol2.qcow2" >/dev/null 2>&1
"$ferry" restore -r "$repo" latest:fromchain -t "$tmp/fromchain.raw" >/dev/null 2>&1
check "our own chain backs up as the guest sees it" cmp -s "$tmp/vol.raw" "$tmp/fromchain.raw"

# --- what ferry cannot read gets a clear error ----------------------------------------------
"$ferry" changes "$tmp/base.raw" --cbt qcow2-bitmap:b0 >/dev/null 2>"$tmp/err"
check "a bitmap of a raw file is a usage error" test $? -eq 2
check "saying it needs QCOW2" grep -q "needs a QCOW2 source" "$tmp/err"
"$ferry" changes "$img" --cbt qcow2-bitmap:nope >/dev/null 2>"$tmp/err"
check "an unknown bitmap names those there are" grep -q "it has: b0, fine" "$tmp/err"
# An image whose header says LUKS (qemu-img's own LUKS set-up times its key derivation and fails
# on machines whose CPU clock it cannot read, so the header is set by hand).
qemu-img create -q -f qcow2 "$tmp/luks.qcow2" 1M
printf '\x02' | dd of="$tmp/luks.qcow2" bs=1 seek=35 conv=notrunc status=none
"$ferry" backup -r "$repo" "$tmp/luks.qcow2" >/dev/null 2>"$tmp/err"
check "an encrypted image is refused" grep -q "encrypted QCOW2 images (LUKS) are not supported" "$tmp/err"
head -c 4096 "$tmp/disk.qcow2" >"$tmp/cut.qcow2"
"$ferry" backup -r "$repo" "$tmp/cut.qcow2" >/dev/null 2>"$tmp/err"
check "a truncated image fails naming it" grep -q "cut.qcow2" "$tmp/err"
"$ferry" check -r "$repo" --read-data >/dev/null 2>&1
check "the repository checks clean" test $? -eq 0

finish "QCOW2 CLI"
