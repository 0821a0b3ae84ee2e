#!/usr/bin/env bash
# Formats every C++ file of the work tree (tracked or new, not ignored) with the project's .clang-format (what scripts/test.sh checks).
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files --cached --others --exclude-standard '*.cc' '*.h' | xargs clang-format -i
