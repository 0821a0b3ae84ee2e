#!/usr/bin/env bash
# The main job on the embedded default, end to end on a fresh machine: installs dependencies,
# builds ferry, then on a local repository backs up a generated volume, changes it, backs it up
# incrementally from the list of changed blocks (reading and storing only around the changes),
# restores it, verifies the restore byte for byte, and prints the throughput of each step.
#   scripts/demo.sh [SIZE_MIB]    (default 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}

bash scripts/install-deps.sh
bash scripts/build.sh release >/dev/null
ferry=$PWD/build/release/ferry

work=$(mktemp -d "${TMPDIR:-/var/tmp}/ferry-demo-XXXXXX")
trap 'rm -rf "$work"' EXIT
export FERRY_REPO=$work/repo
export FERRY_PASSWORD=demo-passphrase  # The demo only: use FERRY_PASSWORD_FILE or a prompt.
volume=$work/volume.img
python3 scripts/make-volume.py "$volume" "$size_mib"
echo "== a ${size_mib} MiB volume image: text, compressed data, repeats and holes"

echo "== ferry init (AES-256-GCM, zstd, FastCDC)"
"$ferry" init
echo "== ferry backup: the first, full backup"
"$ferry" backup --tag demo "$volume"
echo "== change 1% of the volume in place, noting the changed blocks as a change tracker would"
python3 - "$volume" "$size_mib" "$work/changes.txt" <<'PY'
import random, sys
path, size, changes = sys.argv[1], int(sys.argv[2]) << 20, sys.argv[3]
r = random.Random(42)
with open(path, "r+b") as f, open(changes, "w") as out:
    for _ in range(max(1, size // 100 // 65536)):
        at = r.randrange(0, size - 65536)
        f.seek(at)
        f.write(r.randbytes(65536))
        out.write(f"{at} 65536\n")
PY
echo "== ferry backup --parent auto --cbt list:changes.txt: reads only around the changes"
"$ferry" backup --tag demo "$volume" --parent auto --cbt "list:$work/changes.txt"
"$ferry" snapshots
echo "== ferry restore latest"
"$ferry" restore latest --target "$work/restored.img"
echo "== verify"
cmp "$volume" "$work/restored.img" && echo "   restored volume is byte-identical to the source"
"$ferry" check --read-data
"$ferry" stats
