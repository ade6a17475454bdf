# tollgate's user contract. On a fresh Debian 12 machine:
#   make run    install build dependencies if missing, build (release), import the demo
#               provisioning into the embedded SQLite store, run on 127.0.0.1:5060 (UDP+TCP)
#   make test   install test dependencies if missing, build once, run unit + torture,
#               fuzz smoke (libFuzzer, ASan/UBSan) and integration tests (SIPp, sipvicious)
#   make build  release build; the binary is build/bin/tollgate
#   make deb    the Debian package of that build: build/deb/tollgate_<version>_<arch>.deb,
#               checked by lintian (docs/operations.md)
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
# The PostgreSQL store backend (src/store/pg_*.cc) links libpq.
BUILD_PACKAGES += libpq-dev
# The cluster's Redis link (src/cluster/) encodes and parses RESP with hiredis.
BUILD_PACKAGES += libhiredis-dev
DEB_PACKAGES := build-essential debhelper dpkg-dev lintian
TEST_PACKAGES := sip-tester sipvicious sipsak python3 python3-pytest clang-14 \
  libclang-rt-14-dev clang-format procps iproute2 baresip-core openssl nftables iptables tshark \
  prometheus $(DEB_PACKAGES) systemd adduser
# tests/integration/test_observability.py: sngrep decodes HEP (tshark 4.0 has no HEP dissector);
# systemd (above) brings the journald and journalctl the journal test runs.
TEST_PACKAGES += sngrep
# tests/integration/test_console.py: the web console in a real headless Chromium.
TEST_PACKAGES += chromium chromium-driver python3-selenium
# tests/integration/test_media.py and bench/run media rows: rtpengine in userspace (docs/media.md).
TEST_PACKAGES += rtpengine-daemon
# The PostgreSQL store tests (tests/integration/pg_server.py): a real server started per
# session (initdb as the packaged 'postgres' user), psql and pg_dump.
TEST_PACKAGES += postgresql-15 postgresql-client-15
# The cluster tests (tests/integration/redis_server.py, src/cluster/*_test.cc): real Redis
# servers, replicas and Sentinels on private ports.
TEST_PACKAGES += redis-server redis-sentinel

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

.PHONY: deps deps-test deps-deb build run test unit fuzz fuzz-smoke fuzz-long integration bench \
  format format-check clean deb

deps:
	$(call apt_install,$(BUILD_PACKAGES))

deps-test: deps
	$(call apt_install,$(TEST_PACKAGES))

deps-deb: deps
	$(call apt_install,$(DEB_PACKAGES))

build: deps
	cmake --preset release
	cmake --build --preset release

run: build
	mkdir -p var
	build/bin/tollgate import --config $(CONFIG) $(PROVISIONING)
	exec build/bin/tollgate run --config $(CONFIG)

test: deps-test format-check build unit fuzz-smoke deb integration
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

# The package test (tests/integration/test_package.py) installs build/deb's
# .deb when it exists (make deb, which make test runs first), else skips.
integration: build deps-test
	TOLLGATE_BIN=$(CURDIR)/build/bin/tollgate TOLLGATE_DEB_DIR=$(CURDIR)/build/deb \
	  $(PYTHON) -m pytest -q tests/integration

# bench/run is the side-by-side table against Kamailio (docs/BENCHMARKS.md);
# the rest are tollgate's own figures.
bench: build deps-test
	bench/run
	build/bin/shield_bench
	bench/flood.py
	bench/call_rate.py
	bench/cdr_window.py

# The Debian package of the release build (debian/rules says why it builds
# nothing of its own). The version is the project's (CMakeLists.txt);
# debian/changelog must name it. Fails on any lintian error or warning.
DEB_DIR := $(CURDIR)/build/deb
deb: build deps-deb
	@v=$$(sed -n 's/^project(tollgate VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt); \
	  c=$$(dpkg-parsechangelog -SVersion); \
	  if [ "$$v" != "$$c" ]; then \
	    echo "debian/changelog says $$c, CMakeLists.txt $$v: add a changelog entry for $$v"; exit 1; \
	  fi
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)
	dpkg-checkbuilddeps
	TOLLGATE_DEB_DIR=$(DEB_DIR) debian/rules binary
	debian/rules clean
	lintian --fail-on error,warning $(DEB_DIR)/tollgate_*.deb
	@ls $(DEB_DIR)/tollgate_*.deb

CXX_SOURCES = $$(git ls-files 'src/*.h' 'src/*.cc' 'tests/*.cc' 'bench/*.cc')

format:
	clang-format -i $(CXX_SOURCES)

# Fails when any C++ file differs from .clang-format (run `make format`).
format-check: deps-test
	clang-format --dry-run --Werror $(CXX_SOURCES)
	tools/check-header-contracts

clean:
	rm -rf build
