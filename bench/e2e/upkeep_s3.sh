#!/usr/bin/env bash
# Repository upkeep over S3: a repository of many small packs (--pack-size 4, the smallest) on
# s3rver behind the signature-checking front end is checked (without --read-data), its index
# rebuilt (`repair index`), its only snapshot forgotten, then `ferry prune` run; each is timed,
# with the requests the front end counted. (It was bench/e2e/prune_s3.sh.) Several binaries can be compared round by round (the
# first is this tree's release build unless given).
#   bench/e2e/upkeep_s3.sh [FERRY_BINARY...]    (VOLUME_MIB=2048 ROUNDS=3)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${WORK:-/var/tmp/ferry-e2e}
volume_mib=${VOLUME_MIB:-2048}
rounds=${ROUNDS:-3}
source bench/e2e/lib.sh
binaries=("$@")
[[ ${#binaries[@]} -gt 0 ]] || binaries=("$ferry")

state=$(mktemp -d /tmp/ferry-prune-s3.XXXXXX)
trap 'bash tests/servers/s3_server.sh stop "$state"; rm -rf "$state"' EXIT
bash tests/servers/s3_server.sh start "$state" >/dev/null
set -a
source "$state/env"
set +a
export FERRY_PASSWORD=bench
vol=$work/prune-volume.img
head -c "$((volume_mib << 20))" /dev/urandom >"$vol"
requests() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["requests"])' "$state/front-stats.json"; }

echo "| round | binary | check: requests | check wall | repair: requests | repair wall | packs deleted | MB deleted | prune: requests | prune wall |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for round in $(seq "$rounds"); do
  for i in "${!binaries[@]}"; do
    f=${binaries[$i]}
    repo="s3://$FERRY_S3_BUCKET/prune-$round-$i?endpoint=$FERRY_S3_ENDPOINT"
    "$f" init -r "$repo" --pack-size 4 --compression 0 >/dev/null 2>&1
    "$f" backup -r "$repo" --name vol "$vol" >/dev/null 2>&1
    before=$(requests)
    start=$(date +%s.%N)
    "$f" check -r "$repo" >/dev/null
    check_wall=$(echo "$(date +%s.%N) - $start" | bc)
    check_requests=$(($(requests) - before))
    before=$(requests)
    start=$(date +%s.%N)
    "$f" repair index -r "$repo" >/dev/null
    repair_wall=$(echo "$(date +%s.%N) - $start" | bc)
    repair_requests=$(($(requests) - before))
    "$f" forget -r "$repo" --keep-last 0 >/dev/null 2>&1 ||
      "$f" forget -r "$repo" "$("$f" snapshots -r "$repo" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')" >/dev/null
    before=$(requests)
    start=$(date +%s.%N)
    "$f" prune -r "$repo" --json >"$work/prune.json" 2>/dev/null
    end=$(date +%s.%N)
    read -r deleted mb < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["packs_deleted"], round(r["bytes_deleted"] / 1e6, 1))' "$work/prune.json")
    printf '| %s | %s | %s | %.2f s | %s | %.2f s | %s | %s | %s | %.2f s |\n' "$round" "$f" \
      "$check_requests" "$check_wall" "$repair_requests" "$repair_wall" "$deleted" "$mb" \
      "$(( $(requests) - before ))" "$(echo "$end - $start" | bc)"
  done
done
rm -f "$vol"
