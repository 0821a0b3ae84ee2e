#!/usr/bin/env bash
# Runs a command with the Ceph S3 gateway up (tests/servers/rgw_server.sh), its endpoint, buckets
# and credentials in the environment, and stops it afterwards whatever happens.
#   with_rgw.sh COMMAND [ARGS…]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state=$(mktemp -d /tmp/ferry-rgw.XXXXXX)  # short: Ceph's admin sockets live under it
cleanup() {
  bash "$here/rgw_server.sh" stop "$state"
  rm -rf "$state"
}
trap cleanup EXIT
bash "$here/rgw_server.sh" start "$state" >/dev/null
set -a
# shellcheck disable=SC1091
source "$state/env"
set +a
"$@"
