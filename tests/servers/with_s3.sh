#!/usr/bin/env bash
# Runs a command with the S3 test server up (tests/servers/s3_server.sh), its endpoints and
# credentials in the environment, and stops the server afterwards whatever happens.
#   with_s3.sh COMMAND [ARGS…]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state=$(mktemp -d "${TMPDIR:-/tmp}/ferry-s3.XXXXXX")
cleanup() {
  bash "$here/s3_server.sh" stop "$state"
  rm -rf "$state"
}
trap cleanup EXIT
bash "$here/s3_server.sh" start "$state" >/dev/null
set -a
# shellcheck disable=SC1091
source "$state/env"
set +a
"$@"
