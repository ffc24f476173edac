#!/usr/bin/env bash
# `make fuzz`: every libFuzzer target for FUZZ_SECONDS (default 60) each, seeded from Fuzz/Corpus and
# Fuzz/Regressions. A crash or a broken property fails the run and its input is copied into
# Fuzz/Regressions/<target>/, which `make test` replays (Tests/FuzzRegressionTests).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-cron config journal models control}
work=.fuzz-work

# SwiftPM's --sanitize=fuzzer makes it link libFuzzer's main; the one -sanitize=fuzzer,address after
# it matters because swiftc keeps only the last -sanitize flag, and --sanitize=fuzzer --sanitize=address
# would silently drop the coverage instrumentation.
flags=(-c release --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address)
(cd Fuzz && swift build "${flags[@]}")
bin="$(cd Fuzz && swift build "${flags[@]}" --show-bin-path)/imagebuildd-fuzz"

failed=()
summary=()
for target in $targets; do
    corpus="$work/$target/corpus"
    mkdir -p "$corpus" "$work/$target/artifacts"
    cp Fuzz/Corpus/"$target"/* "$corpus"/
    cp Fuzz/Regressions/"$target"/* "$corpus"/ 2>/dev/null || true
    log="$work/$target/log"
    echo "== $target: $seconds s"
    set +e
    FUZZ_TARGET=$target "$bin" "$corpus" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=4096 \
        -artifact_prefix="$work/$target/artifacts/" -print_final_stats=1 >"$log" 2>&1
    status=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
    summary+=("$target: ${execs:-?} executions, ${cov:-no coverage line}, exit $status")
    if [ "$status" -ne 0 ]; then
        failed+=("$target")
        grep -E 'property broken|ERROR: AddressSanitizer|Fatal error|deadly signal' "$log" | head -5 || true
        for crash in "$work/$target/artifacts"/*; do
            [ -f "$crash" ] || continue
            cp "$crash" "Fuzz/Regressions/$target/$(basename "$crash")"
            echo "   saved Fuzz/Regressions/$target/$(basename "$crash") (commit it once fixed; make test replays it)"
        done
    fi
done
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: broken in ${failed[*]} (logs in $work/<target>/log)"
    exit 1
fi
