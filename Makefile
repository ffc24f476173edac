# The README's two commands: `make demo` runs the product, `make test` runs every test.
SWIFT ?= swift
APT_PACKAGES := libsystemd-dev pkg-config

.PHONY: deps demo test bench build release clean

# Installs the C libraries the package links, only where pkg-config cannot find them.
deps:
	@if ! pkg-config --exists libsystemd 2>/dev/null; then \
		echo "installing $(APT_PACKAGES)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

demo: build
	$(SWIFT) run imagebuildd --help

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# Benchmarks with their peers in the same run (SQLite, robfig/cron); installs what they need.
bench: deps
	scripts/bench.sh

clean:
	rm -rf .build Benchmarks/.build
