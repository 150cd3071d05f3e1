#!/usr/bin/env bash
# Generates the Kotlin, Swift and Python sources of the bindings from the built library
# (uniffi proc-macro metadata), unformatted, into bindings/{kotlin,swift,python}.
#   bindings/generate.sh          regenerate
#   bindings/generate.sh --check  fail if the committed sources are stale
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p devcare-bindings -p uniffi-bindgen
lib=target/debug/libdevcare_uniffi.so
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
target/debug/uniffi-bindgen generate --no-format --library "$lib" -l kotlin -l swift -l python -o "$out" >/dev/null
mkdir -p "$out/tree/kotlin" "$out/tree/swift" "$out/tree/python"
find "$out" -maxdepth 5 -name '*.kt' -not -path "$out/tree/*" -exec cp {} "$out/tree/kotlin/" \;
find "$out" -maxdepth 5 \( -name '*.swift' -o -name '*.h' -o -name '*.modulemap' \) -not -path "$out/tree/*" -exec cp {} "$out/tree/swift/" \;
find "$out" -maxdepth 5 -name '*.py' -not -path "$out/tree/*" -exec cp {} "$out/tree/python/" \;
if [ "${1:-}" = "--check" ]; then
  for lang in kotlin swift python; do
    if ! diff -r "$out/tree/$lang" "bindings/$lang/generated" >/dev/null 2>&1; then
      echo "bindings/$lang/generated is stale: run bindings/generate.sh" >&2
      diff -r "$out/tree/$lang" "bindings/$lang/generated" | head -20 >&2 || true
      exit 1
    fi
  done
  echo "generated bindings are up to date"
else
  for lang in kotlin swift python; do
    rm -rf "bindings/$lang/generated"
    mkdir -p "bindings/$lang/generated"
    cp -r "$out/tree/$lang/." "bindings/$lang/generated/"
  done
  find bindings/*/generated -type f | sort
fi
