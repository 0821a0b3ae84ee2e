#!/usr/bin/env bash
# When the storage fills up, on a small tmpfs in a private mount namespace: a restore or backup
# that runs out of room fails with exit 1 and says so; a failed backup removes the packs it
# wrote; with the repository's disk still full, check and restore read on (without a lock) and
# prune says what it needs; once there is room, forget and prune free the space, and what was
# backed up before still restores byte-exact.
# Skips (exit 0, with a message) where mount namespaces or tmpfs mounts are unavailable.
# Usage: full_disk_cli_test.sh FERRY_BINARY
set -u
ferry=$1
here=$(cd "$(dirname "$0")" && pwd)
if [[ ${FERRY_IN_NAMESPACE:-} != 1 ]]; then
  unshare -m true 2>/dev/null || { echo "skip: no mount namespaces here"; exit 0; }
  FERRY_IN_NAMESPACE=1 exec unshare -m --propagation private bash "$0" "$@"
fi
source "$here/lib.sh"
trap 'umount "$tmp/small" 2>/dev/null; rm -rf "$tmp"' EXIT
export FERRY_PASSWORD=full
mkdir "$tmp/small"
mount -t tmpfs -o size=48m tmpfs "$tmp/small" || { echo "skip: cannot mount a tmpfs here"; exit 0; }
repo=$tmp/small/repo
used() { df --output=used -B1 "$tmp/small" | tail -1; }
free() { df --output=avail -B1 "$tmp/small" | tail -1; }

# Random bytes: nothing compresses, so sizes on disk are what the volumes are.
head -c 20M /dev/urandom >"$tmp/a.img"
head -c 40M /dev/urandom >"$tmp/b.img"
"$ferry" init -r "$repo" >/dev/null 2>&1
"$ferry" backup -r "$repo" --name a "$tmp/a.img" >/dev/null 2>&1
check "a first backup fits" test $? -eq 0

# --- a backup that fills the disk --------------------------------------------------------
before=$(used)
"$ferry" backup -r "$repo" --name b "$tmp/b.img" >/dev/null 2>"$tmp/err"
check "a backup that fills the repository's disk fails with exit 1" test $? -eq 1
check "... says so" grep -q "No space left on device" "$tmp/err"
check "... removes the packs it wrote, saying so" \
  grep -q "removed the [0-9]* pack(s) (.* MiB) that this backup had written and no index names" "$tmp/err"
check "... and so gives the space back" test $(($(used) - before)) -lt $((1 << 20))
"$ferry" check -r "$repo" >"$tmp/out" 2>&1
check "... leaving nothing for check to warn about" test "$(grep -c warning "$tmp/out")" -eq 0

# --- the disk full to the last byte --------------------------------------------------------
dd if=/dev/zero of="$tmp/small/filler" bs=64k >/dev/null 2>&1
check "(the disk is full)" test "$(free)" -lt 65536
"$ferry" check -r "$repo" --read-data >"$tmp/out" 2>"$tmp/err"
check "check still runs on a full disk" test $? -eq 0 -a -n "$(grep '^no errors:' "$tmp/out")"
check "... saying it reads without a lock, and why" \
  grep -q "warning: reading without a lock (.*No space left on device)" "$tmp/out" "$tmp/err"
"$ferry" restore -r "$repo" latest -t "$tmp/a.out" >/dev/null 2>&1 && cmp -s "$tmp/a.out" "$tmp/a.img"
check "restore still runs, byte-exact" test $? -eq 0
"$ferry" prune -r "$repo" >/dev/null 2>"$tmp/err"
check "prune cannot start: exit 1" test $? -eq 1
check "... and says what it needs" grep -q "the repository's storage is full: make room there first" "$tmp/err"

# --- a restore target that fills up --------------------------------------------------------
rm "$tmp/small/filler"
head -c $(($(free) - (8 << 20))) /dev/zero >"$tmp/small/filler"
"$ferry" restore -r "$repo" latest -t "$tmp/small/out.img" >/dev/null 2>"$tmp/err"
check "a restore to a full disk fails with exit 1" test $? -eq 1
check "... and says so" grep -q "No space left on device" "$tmp/err"
check "... removing the file it created, and saying so" test ! -e "$tmp/small/out.img" -a \
  -n "$(grep "; removed the unfinished $tmp/small/out.img" "$tmp/err")"
rm -f "$tmp/small/out.img" "$tmp/small/filler"

# --- room again: forget and prune free the space --------------------------------------------
head -c 16M /dev/urandom >"$tmp/c.img"
"$ferry" backup -r "$repo" --name c "$tmp/c.img" >/dev/null 2>&1
check "with room again, a backup succeeds" test $? -eq 0
before=$(used)
"$ferry" forget -r "$repo" --keep-last 1 --group-by "" >/dev/null 2>&1 &&
  "$ferry" prune -r "$repo" >/dev/null 2>&1
check "forget and prune succeed" test $? -eq 0
check "... and free the forgotten volume's space" test $((before - $(used))) -ge $((19 << 20))
"$ferry" check -r "$repo" --read-data >"$tmp/out" 2>&1
check "check --read-data passes" test -n "$(grep '^no errors:' "$tmp/out")" -a \
  "$(grep -c warning "$tmp/out")" -eq 0
"$ferry" restore -r "$repo" latest -t "$tmp/c.out" >/dev/null 2>&1 && cmp -s "$tmp/c.out" "$tmp/c.img"
check "the kept snapshot restores byte-exact" test $? -eq 0

finish "full disk"
