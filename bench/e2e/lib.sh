# Shared by the end-to-end benchmarks: the realistic image, cache dropping, timed runs.
# Source it after setting $work; it defines $image (built once) and $ferry (built now).

bash scripts/install-deps.sh --bench >/dev/null
bash scripts/build.sh release >/dev/null
ferry=$PWD/build/release/ferry
mkdir -p "$work"
image=$work/ext4-2g.img

# A 2 GiB ext4 image of real files of this machine (hard links: staging costs no copy).
if [[ ! -f $image ]]; then
  stage=$work/stage
  rm -rf "$stage" && mkdir -p "$stage"
  for d in /usr/share /usr/bin /usr/include; do cp -al "$d" "$stage/" 2>/dev/null || cp -a "$d" "$stage/"; done
  mkfs.ext4 -q -F -b 4096 -d "$stage" "$image" 2G
  rm -rf "$stage"
fi

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
# run NAME CMD...: wall seconds, peak RSS (KiB) and CPU seconds (user + system) of CMD, appended
# to $work/times as "NAME SECS RSS CPU".
run() {
  local name=$1; shift
  drop_caches
  /usr/bin/time -f "%e %M %U %S" -o "$work/t.$name" "$@" >"$work/log.$name" 2>&1 ||
    { echo "$name failed:"; tail -5 "$work/log.$name"; exit 1; }
  read -r secs rss user sys <"$work/t.$name"
  echo "$name $secs $rss $(echo "$user + $sys" | bc)" >>"$work/times"
}
get() { awk -v n="$1" '$1 == n {print $'"$2"'}' "$work/times"; }
ratio() { echo "scale=2; $1 / $2" | bc; }
# make_days: the realistic image changed the way a day of use changes a disk, about 1% and 4% of
# it ($work/day-PCT.img), with the changed blocks as a change list ($work/changes-PCT.txt); made
# once and reused.
make_days() {
  local pct
  for pct in 1 4; do
    if [[ ! -f $work/changes-$pct.txt ]]; then
      cp --sparse=always "$image" "$work/day-$pct.img"
      bash bench/e2e/day_of_use.sh "$work/day-$pct.img" "$pct" "$pct"
      python3 bench/e2e/diff_blocks.py "$image" "$work/day-$pct.img" >"$work/changes-$pct.txt"
    fi
  done
}
