#!/usr/bin/env bash
# The main job on the embedded default, end to end on a fresh machine: installs dependencies,
# builds ferry, generates a volume image and runs ferry over it, printing throughput.
#   scripts/demo.sh [SIZE_MIB]    (default 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}

bash scripts/install-deps.sh
bash scripts/build.sh release >/dev/null
ferry=./build/release/ferry

work=$(mktemp -d "${TMPDIR:-/var/tmp}/ferry-demo-XXXXXX")
trap 'rm -rf "$work"' EXIT
volume=$work/volume.img
python3 scripts/make-volume.py "$volume" "$size_mib"

echo "== ferry chunk (FastCDC 2020, 256 KiB average) over a ${size_mib} MiB volume"
"$ferry" chunk "$volume" >"$work/chunks.txt"
echo "   $(wc -l <"$work/chunks.txt") chunks listed in $work/chunks.txt"
echo "== the same volume changed in one place: most chunks survive (what dedup builds on)"
printf 'a small edit' | dd of="$volume" bs=1 seek=$((size_mib * 524288)) conv=notrunc status=none
"$ferry" chunk "$volume" >"$work/chunks2.txt" 2>/dev/null
shared=$(comm -12 <(cut -f2,3 "$work/chunks.txt" | sort) <(cut -f2,3 "$work/chunks2.txt" | sort) | wc -l)
echo "   $shared of $(wc -l <"$work/chunks2.txt") chunks unchanged after the edit"
