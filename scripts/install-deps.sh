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
)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(fio restic time e2fsprogs openssl bc)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages present"
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
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
