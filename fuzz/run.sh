#!/usr/bin/env bash
# Runs one fuzz target on this machine's stable toolchain (with AddressSanitizer).
#   fuzz/run.sh TARGET SECONDS
# Seeds are read from fuzz/corpus/TARGET (committed); the run works on a scratch copy so
# the committed corpus stays small. A crash leaves its input in fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: fuzz/run.sh TARGET SECONDS}
secs=${2:-20}
mkdir -p "corpus/$target"
work=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$work" "$log"' EXIT
cp -r "corpus/$target/." "$work/"
status=0
RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "$work" -- \
  -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1 || status=$?
grep -E 'stat::number_of_executed_units|stat::peak_rss_mb|ERROR|panicked|SUMMARY|Test unit written' "$log" || true
if [ "$status" -ne 0 ]; then
  tail -n 60 "$log"
  echo "fuzz target $target failed (exit $status)" >&2
fi
exit "$status"
