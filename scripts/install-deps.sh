#!/usr/bin/env bash
# Installs everything ferry needs to build and test on Debian 12, and with --bench what the
# benchmarks compare against. Idempotent: it only calls apt-get when a package is missing.
#   scripts/install-deps.sh [--bench]
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git python3
  clang libclang-rt-14-dev clang-format
  liburing-dev libzstd-dev libxxhash-dev libssl-dev libexpected-dev libfmt-dev libcli11-dev
  nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
  xxhash zstd
  xfsprogs  # FIEMAP change-source tests on a loop-mounted XFS
  zlib1g-dev qemu-utils libnbd-bin libnbd-dev  # QCOW2, NBD; qemu-img, qemu-io, qemu-nbd, nbdinfo check us
  nbdkit  # an NBD server whose filters log, delay and fail reads
  libcurl4-openssl-dev  # the S3 transport
  libnfs-dev nfs-ganesha nfs-ganesha-vfs rpcbind iproute2  # the NFS transport and its test server
  # S3 Object Lock tests: a one-node Ceph with its S3 gateway; boto3 checks retention independently
  ceph-mon ceph-osd ceph-common radosgw python3-boto3
)
# Servers the tests start themselves, in a private network namespace; never as system services.
services=(nfs-ganesha rpcbind ceph-mon ceph-osd radosgw ceph)
# The S3 tests run s3rver (npm); any Node.js with npm will do, Debian's if there is none.
if ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(fio restic time e2fsprogs openssl bc)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# s3rver, pinned, in FERRY_DEPS (outside the source tree; the npm registry is reachable).
install_s3rver() {
  local deps=${FERRY_DEPS:-/var/tmp/ferry-deps}
  if [[ -x $deps/s3rver/node_modules/.bin/s3rver ]]; then
    return 0
  fi
  echo "install-deps: installing s3rver 3.7.1 into $deps/s3rver"
  mkdir -p "$deps/s3rver"
  (cd "$deps/s3rver" && npm install --silent --no-audit --no-fund --no-save s3rver@3.7.1 >/dev/null)
}

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages present"
  install_s3rver
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
# Keep the packages' services from starting (they would listen on every address): a policy
# that refuses service starts for the length of the install, then disabled for good.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
  "${sudo_cmd[@]}" chmod +x "$policy"
  own_policy=1
fi
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[[ $own_policy -eq 1 ]] && "${sudo_cmd[@]}" rm -f "$policy"
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
  for s in "${services[@]}"; do
    if printf '%s\n' "${missing[@]}" | grep -qx "$s"; then
      "${sudo_cmd[@]}" systemctl disable --now "$s.service" "$s.socket" >/dev/null 2>&1 || true
    fi
  done
fi
install_s3rver
echo "install-deps: done"
