#!/usr/bin/env bash
# Configures and builds one CMake preset (release, debug, asan, tsan, fuzz) with Ninja.
#   scripts/build.sh [PRESET]     (default: release)
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -- -j"$(nproc)"
