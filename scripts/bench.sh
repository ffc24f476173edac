#!/usr/bin/env bash
# `make bench`: every benchmark and its named peer in one run, then the ratios, then the soak.
# Peers: SQLite (journal), Go's robfig/cron v3 (scheduler), both from Debian's packages; the Python Azure SDK (soak).
set -euo pipefail
cd "$(dirname "$0")/.."
out=.build-bench
mkdir -p "$out"

need=()
pkg-config --exists sqlite3 || need+=(libsqlite3-dev)
command -v go >/dev/null || need+=(golang-go)
[ -d /usr/share/gocode/src/github.com/robfig/cron ] || need+=(golang-github-robfig-cron-dev)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

# The Go peer, built offline against Debian's robfig/cron source (GOPATH mode).
GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$PWD/$out/gocache" go build -o "$out/robfig-bench" Benchmarks/robfig-cron/main.go

(cd Benchmarks && swift package --disable-sandbox benchmark --no-progress) | tee "$out/swift.txt"
"$out/robfig-bench" | tee "$out/robfig.txt"
python3 scripts/bench-ratios.py "$out/swift.txt" "$out/robfig.txt"

# The soak: the release daemon idle, under load and starting up, beside the official Python SDK.
python3 -c 'import azure.mgmt.imagebuilder, azure.identity' 2>/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore azure-mgmt-imagebuilder azure-identity
scripts/build-release.sh
(cd Benchmarks && swift build -c release --product JournalFill)
python3 scripts/soak.py "$(swift build -c release --show-bin-path)/imagebuildd" Benchmarks/.build/release/JournalFill "$out"

# The control socket: round trips with 1,000 schedules, `imagebuildd status` with 10,000.
python3 scripts/control-bench.py "$(swift build -c release --show-bin-path)/imagebuildd" | tee "$out/control.txt"

# Metrics with 10,000 schedules: idle CPU off/on/scraped, scrape time and size beside Prometheus's own /metrics.
python3 scripts/metrics-bench.py "$(swift build -c release --show-bin-path)/imagebuildd" "$out" | tee "$out/metrics.txt"

# Footprint: stripped size by section, idle RSS at 1/1,000/10,000 schedules beside Debian's cron.
command -v cron >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cron; }
python3 scripts/footprint-bench.py "$(swift build -c release --show-bin-path)/imagebuildd" "$out" | tee "$out/footprint.txt"

# Discovery: a pass over 1,000 templates (ARM requests, time) beside the SDK's list, and a tag change's delay.
python3 scripts/discovery-bench.py "$(swift build -c release --show-bin-path)/imagebuildd" --out "$out/discovery.json"
