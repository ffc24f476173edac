# The README's two commands: `make demo` runs the product, `make test` runs every test.
SWIFT ?= swift
APT_PACKAGES := libsystemd-dev pkg-config

.PHONY: deps demo test bench build release clean

# Installs the C libraries the package links (and openssl, which makes the TLS tests' CA), only
# where they are missing.
deps:
	@if ! pkg-config --exists libsystemd 2>/dev/null || ! command -v openssl >/dev/null; then \
		echo "installing $(APT_PACKAGES) openssl"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) openssl; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

demo: build
	$(SWIFT) run imagebuildd --help

# Every Swift test, then the official Azure SDK for Python against `imagebuildd simulate` (pip-installs it).
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	scripts/sdk-check.sh

# Benchmarks with their peers in the same run (SQLite, robfig/cron); installs what they need.
bench: deps
	scripts/bench.sh

clean:
	rm -rf .build Benchmarks/.build
