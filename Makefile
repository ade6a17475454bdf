# tollgate's user contract. On a fresh Debian 12 machine:
#   make run    install build dependencies if missing, build (release), import the demo
#               provisioning into the embedded SQLite store, run on 127.0.0.1:5060 (UDP+TCP)
#   make test   install test dependencies if missing, build once, run unit + torture,
#               fuzz smoke (libFuzzer, ASan/UBSan) and integration tests (SIPp, sipvicious)
#   make build  release build; the binary is build/bin/tollgate
# Other targets: unit, fuzz, fuzz-smoke, fuzz-long, integration, bench, format, format-check,
# clean.

SHELL := /bin/bash
.DEFAULT_GOAL := build

CONFIG ?= examples/tollgate.toml
PROVISIONING ?= examples/demo-provisioning.toml
FUZZ_SECONDS ?= 30
FUZZ_DIGEST_SECONDS ?= 10
FUZZ_NUMBER_SECONDS ?= 5
FUZZ_CROSSING_SECONDS ?= 5
# fuzz-long: every harness this long (seconds) under ASan/UBSan.
FUZZ_LONG_SECONDS ?= 600
FUZZ_TARGETS := sip_message digest number crossing
PYTHON := /usr/bin/python3

BUILD_PACKAGES := cmake ninja-build g++ make ccache pkg-config libssl-dev libsqlite3-dev \
  libtomlplusplus-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev libnftables-dev \
  libcpp-httplib-dev libsodium-dev nlohmann-json3-dev libjemalloc-dev
TEST_PACKAGES := sip-tester sipvicious sipsak python3 python3-pytest clang-14 \
  libclang-rt-14-dev clang-format procps iproute2 baresip-core openssl nftables iptables tshark \
  prometheus

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Installs the named Debian packages that are missing (apt-get update once per
# call, only when something is missing). Waits, bounded, for another apt run.
define apt_install
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  for i in $$(seq 1 120); do $(SUDO) fuser /var/lib/dpkg/lock-frontend >/dev/null 2>&1 || break; sleep 1; done; \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends $$missing; \
	fi
endef

.PHONY: deps deps-test build run test unit fuzz fuzz-smoke fuzz-long integration bench format \
  format-check clean

deps:
	$(call apt_install,$(BUILD_PACKAGES))

deps-test: deps
	$(call apt_install,$(TEST_PACKAGES))

build: deps
	cmake --preset release
	cmake --build --preset release

run: build
	mkdir -p var
	build/bin/tollgate import --config $(CONFIG) $(PROVISIONING)
	exec build/bin/tollgate run --config $(CONFIG)

test: deps-test format-check build unit fuzz-smoke integration
	@echo "make test: all suites passed"

unit: build
	ctest --test-dir build -L unit -j2 --output-on-failure

fuzz: deps-test
	cmake --preset fuzz
	cmake --build --preset fuzz

# New inputs go to a scratch directory; the checked-in corpus is only read.
fuzz-smoke: fuzz
	@rm -rf build/fuzz/scratch && mkdir -p build/fuzz/scratch build/fuzz/artifacts
	build/fuzz/bin/fuzz_sip_message -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	  -artifact_prefix=build/fuzz/artifacts/ build/fuzz/scratch tests/fuzz/corpus/sip_message
	@rm -rf build/fuzz/scratch-digest && mkdir -p build/fuzz/scratch-digest
	build/fuzz/bin/fuzz_digest -max_total_time=$(FUZZ_DIGEST_SECONDS) -print_final_stats=1 \
	  -artifact_prefix=build/fuzz/artifacts/ build/fuzz/scratch-digest tests/fuzz/corpus/digest
	@rm -rf build/fuzz/scratch-number && mkdir -p build/fuzz/scratch-number
	build/fuzz/bin/fuzz_number -max_total_time=$(FUZZ_NUMBER_SECONDS) -print_final_stats=1 \
	  -artifact_prefix=build/fuzz/artifacts/ build/fuzz/scratch-number tests/fuzz/corpus/number
	@rm -rf build/fuzz/scratch-crossing && mkdir -p build/fuzz/scratch-crossing
	build/fuzz/bin/fuzz_crossing -max_total_time=$(FUZZ_CROSSING_SECONDS) -print_final_stats=1 \
	  -artifact_prefix=build/fuzz/artifacts/ build/fuzz/scratch-crossing tests/fuzz/corpus/crossing

# The long run (tests/fuzz/README.md): each harness for FUZZ_LONG_SECONDS
# (10 minutes by default), one after the other, stopping at the first
# crash or broken invariant. `make fuzz-long FUZZ_TARGETS=number` runs one.
fuzz-long: fuzz
	@mkdir -p build/fuzz/artifacts
	@set -e; for t in $(FUZZ_TARGETS); do \
	  rm -rf build/fuzz/long-$$t && mkdir -p build/fuzz/long-$$t; \
	  echo "fuzz_$$t: $(FUZZ_LONG_SECONDS) s"; \
	  build/fuzz/bin/fuzz_$$t -max_total_time=$(FUZZ_LONG_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=build/fuzz/artifacts/ build/fuzz/long-$$t tests/fuzz/corpus/$$t; \
	done

integration: build deps-test
	TOLLGATE_BIN=$(CURDIR)/build/bin/tollgate $(PYTHON) -m pytest -q tests/integration

# bench/run is the side-by-side table against Kamailio (docs/BENCHMARKS.md);
# the rest are tollgate's own figures.
bench: build deps-test
	bench/run
	build/bin/shield_bench
	bench/flood.py
	bench/call_rate.py
	bench/cdr_window.py

CXX_SOURCES = $$(git ls-files 'src/*.h' 'src/*.cc' 'tests/*.cc' 'bench/*.cc')

format:
	clang-format -i $(CXX_SOURCES)

# Fails when any C++ file differs from .clang-format (run `make format`).
format-check: deps-test
	clang-format --dry-run --Werror $(CXX_SOURCES)
	tools/check-header-contracts

clean:
	rm -rf build
