#!/usr/bin/env bash
# `make bench`: every benchmark and its named peer in one run, then the ratios.
# Peers: SQLite (journal), Go's robfig/cron v3 (scheduler), both from Debian's packages.
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
