#!/usr/bin/env bash
# Builds the XFRM decoder fuzzer (libFuzzer + AddressSanitizer) and runs it for a
# bounded time on a seed corpus made from the wire fixtures.
# Usage: Fuzz/run.sh [SECONDS]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
export SWIFT_BACKTRACE=enable=no
out=.build-fuzz
mkdir -p "$out/module" "$out/corpus" "$out/artifacts"
# The codec as its own module, with the C headers it needs (module map made here,
# as SwiftPM makes its own for the package build).
printf 'module CXFRM {\n  header "%s"\n  export *\n}\n' "$PWD/Sources/CXFRM/include/CXFRM.h" > "$out/module/module.modulemap"
swiftc -sanitize=fuzzer,address -parse-as-library -O -g -swift-version 6 \
  -module-name XFRMWireFuzzed -emit-module -emit-module-path "$out/module/XFRMWireFuzzed.swiftmodule" \
  -emit-object -wmo -Xcc -fmodule-map-file="$out/module/module.modulemap" \
  -I Sources/CXFRM/include -o "$out/XFRMWireFuzzed.o" Sources/XFRMWire/*.swift
swiftc -sanitize=fuzzer,address -parse-as-library -O -g -swift-version 6 \
  -I "$out/module" -I Sources/CXFRM/include -Xcc -fmodule-map-file="$out/module/module.modulemap" \
  Fuzz/FuzzDecoder.swift "$out/XFRMWireFuzzed.o" -o "$out/fuzz-decoder"
# Seed corpus: every datagram of every recorded fixture, plus synthetic seeds.
python3 Fuzz/seed-corpus.py "$out/corpus" Tests/XFRMWireTests/Fixtures Samples
echo "fuzz: $(ls "$out/corpus" | wc -l) seeds, running ${secs}s"
"$out/fuzz-decoder" -max_total_time="$secs" -max_len=65536 -artifact_prefix="$out/artifacts/" \
  -print_final_stats=1 "$out/corpus"
