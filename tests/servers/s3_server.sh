#!/usr/bin/env bash
# Starts and stops the S3 test server: s3rver (npm 3.7.x) on 127.0.0.1 behind our own
# signature-checking, fault-injecting front end (tests/servers/s3_front.py). Nothing listens
# on anything but loopback; both are stopped by PID.
#
#   s3_server.sh start STATE_DIR   prints the endpoints and credentials as VAR=value lines and
#                                  writes them to STATE_DIR/env
#   s3_server.sh stop STATE_DIR
#
# Four endpoints on one s3rver: FERRY_S3_ENDPOINT (signatures checked), FERRY_S3_FAULTY_ENDPOINT
# (checked, and a share of requests fail with 500 or 503 SlowDown, are reset, delayed, or done
# with their answer lost), FERRY_S3_LOSSY_ENDPOINT (checked, and the first answer to every
# object publication is lost, so each is retried after it took effect) and
# FERRY_S3_DIRECT_ENDPOINT (s3rver itself, for benchmarks of the transport alone).
#
# The bucket is "ferry-test"; the keys are fixed test keys (not secrets).
# s3rver comes from scripts/install-deps.sh (FERRY_DEPS, default /var/tmp/ferry-deps).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
deps=${FERRY_DEPS:-/var/tmp/ferry-deps}
s3rver=$deps/s3rver/node_modules/.bin/s3rver
access_key=S3RVER  # s3rver knows only its own key id (it never checks secrets)
secret_key=S3RVER
bucket=ferry-test

# shellcheck source=tests/servers/server_lib.sh
source "$here/server_lib.sh"

case "${1:-}" in
  start)
    state=${2:?state directory}
    [[ -x $s3rver ]] || { echo "s3_server: s3rver is not installed at $s3rver (run scripts/install-deps.sh)" >&2; exit 3; }
    mkdir -p "$state/data"
    upstream=$(free_port)
    # s3rver's continuation tokens use DES, which OpenSSL 3 only offers in its legacy provider.
    # Virtual-hosted requests arrive as BUCKET.s3.localhost (curl resolves *.localhost to
    # 127.0.0.1 itself); path-style ones at 127.0.0.1.
    NODE_OPTIONS=--openssl-legacy-provider "$s3rver" -d "$state/data" -a 127.0.0.1 -p "$upstream" --silent --no-vhost-buckets \
      --service-endpoint localhost \
      --configure-bucket "$bucket" >"$state/s3rver.log" 2>&1 &
    echo $! >"$state/s3rver.pid"
    wait_port "$upstream" "$(cat "$state/s3rver.pid")" s3rver || { cat "$state/s3rver.log" >&2; exit 1; }
    start_front() {  # NAME [fault options…]
      local name=$1 port
      shift
      port=$(free_port)
      python3 "$here/s3_front.py" --listen "$port" --upstream "$upstream" \
        --access-key "$access_key" --secret-key "$secret_key" \
        --stats-file "$state/$name-stats.json" "$@" >"$state/$name.log" 2>&1 &
      echo $! >"$state/$name.pid"
      wait_port "$port" "$(cat "$state/$name.pid")" "s3_front.py ($name)" ||
        { cat "$state/$name.log" >&2; exit 1; }
      eval "${name}_port=$port"
    }
    start_front front
    start_front faulty --fail-rate 0.08 --slowdown-rate 0.04 --reset-rate 0.04 \
      --lose-rate 0.03 --delay-rate 0.05 --delay-ms 300 --seed "${FERRY_S3_FAULT_SEED:-7}"
    start_front lossy --lose-first-publish
    cat >"$state/env" <<ENV
FERRY_S3_ENDPOINT=http://127.0.0.1:$front_port
FERRY_S3_FAULTY_ENDPOINT=http://127.0.0.1:$faulty_port
FERRY_S3_LOSSY_ENDPOINT=http://127.0.0.1:$lossy_port
FERRY_S3_STATE=$state
FERRY_S3_DIRECT_ENDPOINT=http://127.0.0.1:$upstream
FERRY_S3_BUCKET=$bucket
AWS_ACCESS_KEY_ID=$access_key
AWS_SECRET_ACCESS_KEY=$secret_key
ENV
    cat "$state/env"
    ;;
  stop)
    state=${2:?state directory}
    stop_pid "$state/front.pid"
    stop_pid "$state/faulty.pid"
    stop_pid "$state/lossy.pid"
    stop_pid "$state/s3rver.pid"
    ;;
  *)
    echo "usage: $0 start STATE_DIR [front-end options…] | stop STATE_DIR" >&2
    exit 2
    ;;
esac
