#!/usr/bin/env bash
# Starts and stops a one-node Ceph cluster with its S3 gateway (radosgw, Debian's Ceph 16) on
# 127.0.0.1: the real S3 server we have that implements Object Lock, which s3rver does not.
# One monitor, one OSD, no manager, cephx off (the S3 side still checks every SigV4 signature);
# everything lives in STATE_DIR and is stopped by PID. The OSD keeps objects in memory
# (memstore), or with FERRY_RGW_STORE=bluestore on a sparse file in STATE_DIR (benchmarks, so
# that the data sits on the same disk as the other targets').
#
#   rgw_server.sh start STATE_DIR   prints the endpoint, buckets and credentials as VAR=value
#                                   lines and writes them to STATE_DIR/env
#   rgw_server.sh stop STATE_DIR
#
# Buckets: FERRY_RGW_LOCKED_BUCKET was created with Object Lock enabled (so versioned),
# FERRY_RGW_PLAIN_BUCKET without. Keys are fixed test keys (not secrets).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/servers/server_lib.sh
source "$here/server_lib.sh"
access_key=FERRYTESTKEY
secret_key=FERRYTESTSECRET
# Debian's python3 has python3-boto3 (scripts/install-deps.sh); a pyenv python on PATH may not.
python=/usr/bin/python3

case "${1:-}" in
  start)
    state=${2:?state directory}
    for tool in ceph-mon ceph-osd radosgw radosgw-admin monmaptool; do
      command -v "$tool" >/dev/null ||
        { echo "rgw_server: $tool is not installed (run scripts/install-deps.sh)" >&2; exit 3; }
    done
    mkdir -p "$state"/{run,log,mon,osd0}
    fsid=$(cat /proc/sys/kernel/random/uuid)
    mon_port=$(free_port)
    rgw_port=$(free_port)
    conf=$state/ceph.conf
    # cephx off, so every messenger mode must allow plain crc (daemons default to "secure").
    cat >"$conf" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
public addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
ms client mode = crc
ms mon service mode = crc
ms service mode = crc
ms mon cluster mode = crc
ms cluster mode = crc
keyring = $state/keyring
run dir = $state/run
admin socket = $state/run/\$name.asok
log file = $state/log/\$name.log
mon data = $state/mon
osd data = $state/osd\$id
$(if [[ ${FERRY_RGW_STORE:-memstore} == bluestore ]]; then
  echo "osd objectstore = bluestore"
  echo "bluestore block create = true"
  echo "bluestore block size = 34359738368"
else
  echo "osd objectstore = memstore"
  echo "memstore device bytes = 4294967296"
fi)
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $state/rgw
CONF
    touch "$state/keyring"
    monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$state/monmap" >/dev/null
    ceph-mon -c "$conf" --mkfs -i a --monmap "$state/monmap"
    ceph-mon -c "$conf" -i a -f >"$state/log/mon.out" 2>&1 &
    echo $! >"$state/mon.pid"
    wait_port "$mon_port" "$(cat "$state/mon.pid")" ceph-mon || { cat "$state/log/mon.out" >&2; exit 1; }
    osd_uuid=$(cat /proc/sys/kernel/random/uuid)
    timeout 60 ceph -c "$conf" osd new "$osd_uuid" >/dev/null
    ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" 2>"$state/log/osd-mkfs.out" ||
      { cat "$state/log/osd-mkfs.out" >&2; exit 1; }
    ceph-osd -c "$conf" -i 0 -f >"$state/log/osd.out" 2>&1 &
    echo $! >"$state/osd.pid"
    radosgw -c "$conf" -n client.rgw -f >"$state/log/rgw.out" 2>&1 &
    echo $! >"$state/rgw.pid"
    # The gateway creates its pools before it listens: allow a minute on a busy machine.
    wait_port "$rgw_port" "$(cat "$state/rgw.pid")" radosgw 1200 ||
      { tail -20 "$state/log/client.rgw.log" >&2; exit 1; }
    radosgw-admin -c "$conf" -n client.rgw user create --uid ferry --display-name ferry \
      --access-key "$access_key" --secret "$secret_key" >/dev/null 2>"$state/log/user.out" ||
      { cat "$state/log/user.out" >&2; exit 1; }
    "$python" - "http://127.0.0.1:$rgw_port" "$access_key" "$secret_key" <<'PY'
import sys
import time
import boto3
from botocore.exceptions import ClientError
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2],
                  aws_secret_access_key=sys.argv[3], region_name="us-east-1")
def create_bucket(**kwargs):
    # The gateway may not know the user created a moment ago yet (seen once in CI as
    # InvalidAccessKeyId): wait for it for a while rather than fail.
    deadline = time.monotonic() + 60
    while True:
        try:
            return s3.create_bucket(**kwargs)
        except ClientError as e:
            if e.response["Error"]["Code"] != "InvalidAccessKeyId" or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
create_bucket(Bucket="ferry-locked", ObjectLockEnabledForBucket=True)
create_bucket(Bucket="ferry-plain")
PY
    cat >"$state/env" <<ENV
FERRY_RGW_ENDPOINT=http://127.0.0.1:$rgw_port
FERRY_RGW_LOCKED_BUCKET=ferry-locked
FERRY_RGW_PLAIN_BUCKET=ferry-plain
FERRY_RGW_STATE=$state
AWS_ACCESS_KEY_ID=$access_key
AWS_SECRET_ACCESS_KEY=$secret_key
ENV
    cat "$state/env"
    ;;
  stop)
    state=${2:?state directory}
    stop_pid "$state/rgw.pid"
    stop_pid "$state/osd.pid"
    stop_pid "$state/mon.pid"
    ;;
  *)
    echo "usage: $0 start STATE_DIR | stop STATE_DIR" >&2
    exit 2
    ;;
esac
