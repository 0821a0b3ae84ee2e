# Shared by the CLI tests: a temporary directory removed on exit, a check counter, a summary.
# Source it after `set -u`; it defines $tmp, check, json_field and finish.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-cli-XXXXXX")
trap '[[ -n "${KEEP_TMP:-}" ]] || rm -rf "$tmp"' EXIT
fails=0
check() {  # check NAME COMMAND...: runs COMMAND, prints ok/FAIL with NAME
  local name=$1; shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}
json_field() {  # json_field FILE KEY: a top-level field of a JSON object
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}
finish() {  # finish WHAT: exit 1 if any check failed
  if [[ $fails -gt 0 ]]; then echo "$fails check(s) failed"; exit 1; fi
  echo "all $1 checks passed"
}
require() {  # require TOOL...: skip the whole test, saying why, unless every TOOL is installed
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null ||
      { echo "SKIP: $tool is not installed (scripts/install-deps.sh installs it)"; exit 0; }
  done
}
nbdinfo_dirty() {  # nbdinfo_dirty URI BITMAP: "offset length" of its dirty ranges, merged
  nbdinfo --map="qemu:dirty-bitmap:$2" "$1" | python3 -c '
import sys
out = []
for line in sys.stdin:
    off, length, kind = (int(x) for x in line.split()[:3])
    if kind & 1:
        if out and out[-1][0] + out[-1][1] == off: out[-1][1] += length
        else: out.append([off, length])
for off, length in out: print(off, length)'
}
