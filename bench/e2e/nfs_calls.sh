#!/usr/bin/env bash
# How many NFS calls each command makes, by procedure: a repository on nfs-ganesha (through
# tests/servers/with_nfs.sh) is filled with a backup of a random volume through the export, then
# `snapshots`, `restore` and `check` run through a counting proxy (nfs_lossy_proxy.py losing
# nothing), one binary after the other. Over a real network every call is a round trip.
#   bench/e2e/nfs_calls.sh [FERRY_BINARY...]    (VOLUME_MIB=512)
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ "${1:-}" != --inside ]]; then
  binaries=("$@")
  [[ ${#binaries[@]} -gt 0 ]] || { bash scripts/build.sh release >/dev/null; binaries=("$PWD/build/release/ferry"); }
  exec env PATH="$PATH:/usr/sbin" bash tests/servers/with_nfs.sh bash "$0" --inside "${binaries[@]}"
fi
shift
state=$(mktemp -d /tmp/ferry-nfs-calls.XXXXXX)
python3 tests/servers/nfs_lossy_proxy.py --listen 127.0.0.2:20491 --to 127.0.0.2:2049 --procs "" \
  --stats "$state/calls.json" &
proxy=$!
trap 'kill "$proxy"; rm -rf "$state"' EXIT
for _ in $(seq 1 200); do
  python3 -c "import socket; socket.create_connection(('127.0.0.2', 20491), 0.2)" 2>/dev/null && break
  sleep 0.05
done
export FERRY_PASSWORD=bench
head -c "$((${VOLUME_MIB:-512} << 20))" /dev/urandom >"$state/vol.img"
counted=${FERRY_NFS_URI/127.0.0.2\//127.0.0.2:20491/}
calls() { sleep 0.3; python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))["by_procedure"], sort_keys=True))' "$state/calls.json"; }
# The difference of two by_procedure counts, largest first, and their total.
delta() {
  python3 -c '
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
d = {k: b[k] - a.get(k, 0) for k in b if b[k] - a.get(k, 0)}
print(sum(d.values()), " ".join(f"{k} {v}" for k, v in sorted(d.items(), key=lambda kv: -kv[1])))' "$1" "$2"
}
echo "| binary | command | NFS calls | by procedure |"
echo "| --- | --- | ---: | --- |"
binaries=("$@")
for i in "${!binaries[@]}"; do
  f=${binaries[$i]}
  repo="$FERRY_NFS_URI/calls-$i"
  "$f" init -r "$repo" >/dev/null 2>&1
  "$f" backup -r "$repo" --name vol "$state/vol.img" >/dev/null
  for cmd in "snapshots" "restore latest -t $state/out.img --overwrite" "check"; do
    before=$(calls)
    # shellcheck disable=SC2086
    "$f" $cmd -r "$counted/calls-$i" >/dev/null
    read -r total detail < <(delta "$before" "$(calls)")
    echo "| $f | ${cmd%% *} | $total | $detail |"
  done
  cmp "$state/vol.img" "$state/out.img"
done
