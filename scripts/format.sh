#!/usr/bin/env bash
# Formats every tracked C++ file with the project's .clang-format (what scripts/test.sh checks).
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files '*.cc' '*.h' | xargs clang-format -i
