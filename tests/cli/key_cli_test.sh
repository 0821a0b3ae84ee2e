#!/usr/bin/env bash
# ferry key: list, add, passwd and remove passphrases of a repository, end to end. The data is
# untouched throughout: a snapshot taken under the first passphrase restores byte-exact under
# the last.
# Usage: key_cli_test.sh FERRY_BINARY
set -u
ferry=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
repo=$tmp/repo
head -c 3000000 /dev/urandom >"$tmp/vol.img"
ids() {  # ids PASSPHRASE [current|other]: key ids as key list --json gives them
  FERRY_PASSWORD=$1 "$ferry" key list -r "$repo" --json | python3 -c '
import json, sys
want = sys.argv[1] if len(sys.argv) > 1 else ""
for k in json.load(sys.stdin):
    if want == "" or (want == "current") == k["current"]: print(k["id"])' "${2:-}"
}

FERRY_PASSWORD=first "$ferry" init -r "$repo" >/dev/null 2>&1
FERRY_PASSWORD=first "$ferry" backup -r "$repo" --name vol "$tmp/vol.img" >/dev/null 2>&1
check "a repository and a backup under the first passphrase" test $? -eq 0
FERRY_PASSWORD=first "$ferry" key list -r "$repo" >"$tmp/out" 2>&1
check "key list shows the key init wrote, marked as the one opened, with host and user" \
  grep -q "^\* [0-9a-f]\{8\}  20[0-9-]*T[0-9:.]*Z  $(hostname) .* $(id -un)$" "$tmp/out"

# --- add --------------------------------------------------------------------------------
FERRY_PASSWORD=first FERRY_NEW_PASSWORD=second "$ferry" key add -r "$repo" >"$tmp/out" 2>&1
check "key add (FERRY_NEW_PASSWORD)" grep -q "^added key [0-9a-f]\{8\}$" "$tmp/out"
check "the second passphrase opens the repository, as the added key" test "$(ids second current | cut -c1-8)" = \
  "$(grep -o '[0-9a-f]\{8\}$' "$tmp/out")"
check "both keys are listed" test "$(ids first | wc -l)" -eq 2
: >"$tmp/empty"
FERRY_PASSWORD=first "$ferry" key add -r "$repo" --new-password-file "$tmp/empty" >/dev/null 2>"$tmp/err"
check "an empty new passphrase is refused (exit 2), naming the file" test $? -eq 2 -a \
  -n "$(grep "password file $tmp/empty: its first line is empty" "$tmp/err")"
FERRY_PASSWORD=first "$ferry" key add -r "$repo" </dev/null >/dev/null 2>"$tmp/err"
check "no new passphrase and no terminal: exit 2, saying how to give one" test $? -eq 2 -a \
  -n "$(grep "set FERRY_NEW_PASSWORD or pass --new-password-file" "$tmp/err")"
check "... and no key was added" test "$(ids first | wc -l)" -eq 2

# --- passwd -------------------------------------------------------------------------------
echo third >"$tmp/third"
FERRY_PASSWORD=second "$ferry" key passwd -r "$repo" --new-password-file "$tmp/third" >"$tmp/out" 2>&1
check "key passwd" grep -q "^added key [0-9a-f]\{8\} for the new passphrase and removed key [0-9a-f]\{8\}$" "$tmp/out"
FERRY_PASSWORD=second "$ferry" snapshots -r "$repo" >/dev/null 2>"$tmp/err"
check "the changed passphrase opens it no more" grep -qx "ferry: wrong passphrase" "$tmp/err"
check "the new one does, and the first still does" test -n "$(ids third current)" -a -n "$(ids first current)"

# --- remove -------------------------------------------------------------------------------
current=$(ids first current)
FERRY_PASSWORD=first "$ferry" key remove -r "$repo" "$current" >/dev/null 2>"$tmp/err"
check "the key in use is not removed (exit 2)" test $? -eq 2 -a \
  -n "$(grep "is the one this passphrase opened" "$tmp/err")"
FERRY_PASSWORD=first "$ferry" key remove -r "$repo" "" >/dev/null 2>"$tmp/err"
check "an empty id is refused, removing nothing" test $? -eq 2 -a "$(ids first | wc -l)" -eq 2
FERRY_PASSWORD=first "$ferry" key remove -r "$repo" ffffffffff >/dev/null 2>"$tmp/err"
check "an unknown id is named" test $? -eq 1 -a -n "$(grep "no key matches 'ffffffffff'" "$tmp/err")"
other=$(ids first other)
FERRY_PASSWORD=first "$ferry" key remove -r "$repo" "${other:0:6}" >"$tmp/out" 2>&1
check "key remove by a prefix" grep -qx "removed key ${other:0:8}" "$tmp/out"
FERRY_PASSWORD=third "$ferry" snapshots -r "$repo" >/dev/null 2>"$tmp/err"
check "the removed key's passphrase opens it no more" grep -qx "ferry: wrong passphrase" "$tmp/err"

FERRY_PASSWORD=first "$ferry" restore -r "$repo" latest -t "$tmp/out.img" >/dev/null 2>&1 &&
  cmp -s "$tmp/vol.img" "$tmp/out.img"
check "the snapshot taken before restores byte-exact" test $? -eq 0
FERRY_PASSWORD=first "$ferry" check -r "$repo" --read-data >"$tmp/out" 2>&1
check "check --read-data passes" grep -q "^no errors:" "$tmp/out"

# --- repositories without keys ---------------------------------------------------------------
"$ferry" init -r "$tmp/plain" --encryption none >/dev/null 2>&1
FERRY_NEW_PASSWORD=x "$ferry" key add -r "$tmp/plain" >/dev/null 2>"$tmp/err"
check "an unencrypted repository has no passphrase to add" test $? -eq 1 -a \
  -n "$(grep "this repository is not encrypted" "$tmp/err")"
"$ferry" init -r "$tmp/layout" --layout qcow2 >/dev/null 2>&1
"$ferry" key list -r "$tmp/layout" >/dev/null 2>"$tmp/err"
check "the qcow2 layout has no keys" test $? -eq 2 -a -n "$(grep "has no keys" "$tmp/err")"

finish "key"
