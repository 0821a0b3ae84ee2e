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
