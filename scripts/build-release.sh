#!/usr/bin/env bash
# The release binary every install path ships (make release/install/deb/e2e/bench): Swift's runtime
# linked in, so it runs without a toolchain, and linked by lld with two choices that cut its size and
# its memory, measured by scripts/footprint-bench.py:
#   --no-export-dynamic        no dynamic symbol table for 36,000 Swift symbols nothing looks up (-4.2 MB)
#   -z pack-relative-relocs    PIE's 88,000 relative relocations as DT_RELR (2.1 MB -> 17 KB, glibc >= 2.36)
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --static-swift-stdlib \
    -Xswiftc -use-ld=lld -Xlinker --no-export-dynamic -Xlinker -z -Xlinker pack-relative-relocs "$@"
