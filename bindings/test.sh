#!/usr/bin/env bash
# Runs the binding tests against the built library: Python always; Kotlin when kotlinc
# (npm package kotlin-compiler, in .tools/) and JNA (Debian libjna-java) are installed —
# .ci/run installs both. Also checks that the committed generated sources are current.
set -euo pipefail
cd "$(dirname "$0")/.."
bindings/generate.sh --check
lib=target/debug/libdevcare_uniffi.so
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "-- swift (no toolchain here: syntax-check the generated C header)"
gcc -fsyntax-only -D_Nonnull= -D_Nullable= -x c bindings/swift/generated/devcareFFI.h

echo "-- python"
mkdir -p "$work/py"
cp bindings/python/generated/devcare.py "$lib" "$work/py/"
cp bindings/python/tests/test_devcare.py "$work/py/"
DEVCARE_VECTORS="$(pwd)/tests/vectors/slots.json" DEVCARE_WIRE_VECTORS="$(pwd)/tests/vectors/wire.json" python3 "$work/py/test_devcare.py"

KC=${KOTLINC_HOME:-.tools/node_modules/kotlin-compiler}
JNA=${JNA_JAR:-/usr/share/java/jna.jar}
if [ -x "$KC/bin/kotlinc" ] && [ -f "$JNA" ]; then
  echo "-- kotlin"
  "$KC/bin/kotlinc" -nowarn -cp "$JNA" -d "$work/kt.jar" \
    bindings/kotlin/generated/devcare.kt bindings/kotlin/tests/Main.kt
  java -Djna.library.path="$(dirname "$lib")" -Ddevcare.vectors="$(pwd)/tests/vectors/slots.json" -Ddevcare.wire="$(pwd)/tests/vectors/wire.json" \
    -cp "$work/kt.jar:$KC/lib/kotlin-stdlib.jar:$JNA" MainKt
else
  echo "-- kotlin: skipped (no kotlinc in $KC or no $JNA)"
  if [ -n "${CI:-}" ]; then echo "CI must run the Kotlin binding test" >&2; exit 1; fi
fi
