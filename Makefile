# The README's two commands: `make demo` runs the product, `make test` runs every test.
SWIFT ?= swift
APT_PACKAGES := libsystemd-dev zlib1g-dev pkg-config

.PHONY: deps demo test sim bench fuzz build release install deb e2e ha-soak clean

PREFIX ?= /usr/local
DESTDIR ?=

# Installs the C libraries the package links, openssl (the TLS tests' CA), Debian's prometheus
# (promtool checks the metrics and the alert rules), PyYAML (the config reader's reference) and
# tzdata (the zones schedules run in, checked against zdump) and etcd (the cluster store's tests
# start three real members), only where they are missing.
deps:
	@if ! pkg-config --exists libsystemd 2>/dev/null || ! pkg-config --exists zlib 2>/dev/null || ! command -v openssl >/dev/null || ! command -v promtool >/dev/null \
			|| ! python3 -c 'import yaml' 2>/dev/null || [ ! -e /usr/share/zoneinfo/tzdata.zi ] || ! command -v etcd >/dev/null; then \
		echo "installing $(APT_PACKAGES) openssl prometheus python3-yaml tzdata etcd-server etcd-client"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) openssl prometheus python3-yaml tzdata etcd-server etcd-client; \
	fi

build: deps
	$(SWIFT) build

# Swift's runtime linked in (no toolchain needed to run it), linked small: see scripts/build-release.sh.
release: deps
	scripts/build-release.sh

# The daemon against the built-in Azure simulator: about 30 seconds, no Azure account, no root.
demo: build
	$(SWIFT) run imagebuildd demo

# Every Swift test, then the official Azure SDK for Python against `imagebuildd simulate` (pip-installs it).
# The in-process tests first (manual clocks; real etcd members and the simulator in real time), then
# the seeded simulation (CPU-bound, both cores), then the tests that run the real binary on a
# compressed real-time clock: each on its own, so no CPU-heavy test skews one that keeps real time.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --skip BuildDaemonTests --skip OrchestrationTests.SimulationTests
	$(SWIFT) test --skip-build --filter OrchestrationTests.SimulationTests
	$(SWIFT) test --skip-build --filter BuildDaemonTests
	scripts/sdk-check.sh
	python3 scripts/ha-soak.py "$$($(SWIFT) build --show-bin-path)/imagebuildd" --kills 3 --smoke

# Cluster mode under fire for longer: KILLS leader SIGKILLs (default 300), SIGSTOP, quorum loss;
# the figures go to .build/ha-soak.json (SEED=S replays one run's choices).
ha-soak: deps
	$(SWIFT) build
	python3 scripts/ha-soak.py "$$($(SWIFT) build --show-bin-path)/imagebuildd" --kills $(or $(KILLS),300) \
		$(if $(SEED),--seed $(SEED)) --out .build/ha-soak.json

# More seeded histories than `make test` runs, single-node and cluster (SEEDS=100000; SEED=S replays
# one, with CLUSTER=1 a cluster seed).
sim: deps
	$(SWIFT) build --build-tests -c release -Xswiftc -enable-testing
	SIM_SEEDS=$(or $(SEEDS),100000) $(if $(SEED),SIM_SEED=$(SEED)) $(if $(CLUSTER),SIM_CLUSTER=1) $(SWIFT) test -c release -Xswiftc -enable-testing --skip-build --filter OrchestrationTests.SimulationTests

# Every libFuzzer target (Fuzz/) for FUZZ_SECONDS each (default 60); crashers land in Fuzz/Regressions.
fuzz: deps
	scripts/fuzz.sh

# Benchmarks with their peers in the same run (SQLite, robfig/cron); installs what they need.
bench: deps
	scripts/bench.sh

# dist/imagebuildd_<version>_<arch>.deb (dpkg-deb): the stripped binary, unit, catalog, man pages, completions.
deb: deps
	scripts/build-deb.sh

# The stripped release binary, the unit, the journald catalog and an example config (DESTDIR aware).
install: release
	install -D -s -m 0755 "$$($(SWIFT) build -c release --show-bin-path)/imagebuildd" "$(DESTDIR)$(PREFIX)/bin/imagebuildd"
	install -D -m 0644 packaging/systemd/imagebuildd.service "$(DESTDIR)$(PREFIX)/lib/systemd/system/imagebuildd.service"
	sed -i 's|/usr/local/bin/imagebuildd|$(PREFIX)/bin/imagebuildd|g' "$(DESTDIR)$(PREFIX)/lib/systemd/system/imagebuildd.service"
	install -D -m 0644 packaging/systemd/imagebuildd.catalog "$(DESTDIR)/usr/lib/systemd/catalog/imagebuildd.catalog"
	install -D -m 0644 packaging/systemd/imagebuildd.sysusers "$(DESTDIR)/usr/lib/sysusers.d/imagebuildd.conf"
	install -D -m 0644 packaging/systemd/config.yaml "$(DESTDIR)/etc/imagebuildd/config.yaml.example"
	install -D -m 0644 packaging/systemd/cluster.yaml "$(DESTDIR)/etc/imagebuildd/cluster.yaml.example"
	install -D -m 0644 packaging/prometheus/imagebuildd.rules.yml "$(DESTDIR)$(PREFIX)/share/imagebuildd/prometheus/imagebuildd.rules.yml"
	install -D -m 0644 packaging/grafana/imagebuildd.json "$(DESTDIR)$(PREFIX)/share/imagebuildd/grafana/imagebuildd.json"
	@if [ -z "$(DESTDIR)" ]; then journalctl --update-catalog 2>/dev/null || true; systemd-sysusers 2>/dev/null || true; systemctl daemon-reload 2>/dev/null || true; fi

# A real systemd in a container (../shared/tools/sysd-box); skips loudly where it cannot boot.
e2e: deps
	scripts/e2e.sh

clean:
	rm -rf .build Benchmarks/.build Fuzz/.build .fuzz-work dist
