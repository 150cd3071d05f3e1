#!/usr/bin/env bash
# The device-only C library: built without the server (`--no-default-features`) in the
# size profile (`[profile.device]`), checked and measured.
#
#   ffi/device-build.sh            build, check, print the size; fail above the budget
#
# Checks: no server function is exported; a handset's whole flow (verify and apply a
# payload, evaluate, render the report as a Generic Alert, on its file store) runs in C against the
# device-only .so and header (-DDEVCARE_DEVICE_ONLY), under valgrind when installed; the
# stripped .so is within DEVCARE_DEVICE_BUDGET bytes. docs/performance.md has the figures.
set -euo pipefail
cd "$(dirname "$0")/.."

# The budget the build must stay within: 1 MiB (issue 17). docs/performance.md itemises
# what the library holds.
budget=${DEVCARE_DEVICE_BUDGET:-1048576}

cargo build -p devcare-ffi --profile device --no-default-features
so=target/device/libdevcare_ffi.so
size=$(stat -c %s "$so")

exports=$(nm -D --defined-only "$so" | awk '$2 == "T" && $3 ~ /^devcare_/ {print $3}')
if grep -q '^devcare_server' <<<"$exports"; then
  echo "device-only library exports server functions:" >&2
  grep '^devcare_server' <<<"$exports" >&2
  exit 1
fi

# The C flow against the device-only library and header.
vectors=tests/vectors/wire.json
field() { python3 -c "import json,sys; print(json.load(open('$vectors'))['$1'])"; }
exe=$(mktemp -d)/device_only
gcc -std=c11 -Wall -Wextra -Werror -DDEVCARE_DEVICE_ONLY -I ffi/include \
  ffi/tests/c/device_only.c -L target/device -ldevcare_ffi -Wl,-rpath,"$PWD/target/device" \
  -o "$exe"
store=$(mktemp -d)
run=("$exe" "$store/device" "$(field payload_hex)" "$(field public_key_hex)" "$(field master_hex)" "$(field now_ms)")
if command -v valgrind >/dev/null; then
  valgrind --quiet --leak-check=full --show-possibly-lost=no --errors-for-leak-kinds=definite --error-exitcode=9 "${run[@]}"
else
  "${run[@]}"
fi
rm -rf "$store" "$(dirname "$exe")"

echo "device-only libdevcare_ffi.so: $size bytes stripped ($(wc -l <<<"$exports") functions), budget $budget"
if [ "$size" -gt "$budget" ]; then
  echo "the device-only library is above its budget of $budget bytes" >&2
  exit 1
fi
