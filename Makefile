# The front door.  `make run` and `make test` work on a fresh Debian 12 machine:
# they install what is missing with apt-get, configure with meson and build.
#
#   make run     build, then show the gateway normalising every department's sample records
#   make federation  build, then three peered gateways (Beijing, Tianjin, Hebei) and a scenario
#   make test    build with AddressSanitizer + UBSan (warnings are errors) and run every test
#   make bench   optimised build, decode + validate throughput per format (docs/benchmarks.md)
#   make fuzz    libFuzzer harness per decoder; FUZZ_SECONDS=N per harness (default 60)
#   make schemas refresh schemas/generated/ and docs/dictionary.md from the dictionary
#   make deb     the Debian package, build-deb/msgw_<version>_<arch>.deb, checked by lintian

DEBIAN_PACKAGES := meson ninja-build pkg-config gcc clang python3 libjansson-dev libxml2-dev \
	libssl-dev libcmocka-dev libzmq3-dev libevent-dev libsqlite3-dev libcurl4-openssl-dev \
	libclang-rt-14-dev openssl curl chromium chromium-driver libnss3-tools fonts-wqy-microhei \
	python3-jsonschema python3-yaml \
	postgresql libpq-dev
# What builds and judges the Debian package (make deb, and make test's test_deb.sh); the package's
# own build dependencies are debian/control's.
DEB_TOOLS := build-essential debhelper dpkg-dev help2man lintian git
BUILD ?= build
TEST_BUILD ?= build-test
BENCH_BUILD ?= build-bench
FUZZ_BUILD ?= build-fuzz
DEB_BUILD ?= build-deb
FUZZ_SECONDS ?= 60
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps run federation test bench fuzz schemas deb clean

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

# Installs only what is missing, so a prepared machine pays nothing.
deps:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BUILD)/build.ninja: | deps
	meson setup $(BUILD) --buildtype=debugoptimized

$(TEST_BUILD)/build.ninja: | deps
	CC=clang meson setup $(TEST_BUILD) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true -Dfuzz=true

run: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)
	./deploy/demo.sh $(BUILD)

# Three gateways peering on loopback (deploy/federation.sh): Ctrl-C stops it.
federation: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)
	./deploy/federation.sh $(BUILD)

test: DEBIAN_PACKAGES += $(DEB_TOOLS)
test: deps $(TEST_BUILD)/build.ninja
	ninja -C $(TEST_BUILD)
	./tests/run.sh $(TEST_BUILD) 5

# The daemon benchmark's HTTPS baseline (bench/daemon.sh); make run and make test never need it.
bench: DEBIAN_PACKAGES += nginx-light
bench: deps
	[ -f $(BENCH_BUILD)/build.ninja ] || meson setup $(BENCH_BUILD) --buildtype=release -Dtests=false
	ninja -C $(BENCH_BUILD)
	./bench/run.sh $(BENCH_BUILD)

fuzz: deps
	[ -f $(FUZZ_BUILD)/build.ninja ] || CC=clang meson setup $(FUZZ_BUILD) --buildtype=debugoptimized \
		-Db_sanitize=address,undefined -Db_lundef=false -Dfuzz=true -Dtests=false
	ninja -C $(FUZZ_BUILD)
	./tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# Out of tree: deploy/deb.sh copies the source into $(DEB_BUILD)/src and builds there
# (docs/package.md).  Only the package's tools and its build dependencies are installed.
deb: DEBIAN_PACKAGES := $(DEB_TOOLS)
deb: deps
	@dpkg-checkbuilddeps 2>/dev/null || { echo "installing the build dependencies of debian/control"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq --no-install-recommends ./; }
	./deploy/deb.sh $(DEB_BUILD)

schemas:
	python3 tools/gen_schemas.py --schemas schemas --out schemas/generated --doc docs/dictionary.md

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(BENCH_BUILD) $(FUZZ_BUILD) $(DEB_BUILD)
