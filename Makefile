# The two commands: `make run` and `make test`. Both install what is missing first.
BUILD_DIR ?= build
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1
CMAKE_FLAGS ?=
CTEST_FLAGS ?=

SANITIZE_DIR ?= build-asan

.PHONY: deps configure build test test-sanitize run lint format bench clean

deps:
	@scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j$$(nproc)

lint: deps
	@tools/node_modules/.bin/buf lint proto
	@scripts/check-format.sh

# Every tier, then the sanitized pure tiers, then a one-screen summary (scripts/test-summary.mjs).
test: build lint
	@start=$$(date +%s); rc=0; rm -f $(SANITIZE_DIR)/ctest-results.xml; \
	(cd $(BUILD_DIR) && ctest --output-on-failure --output-junit ctest-results.xml $(CTEST_FLAGS)) || rc=$$?; \
	if [ $$rc -eq 0 ]; then $(MAKE) --no-print-directory test-sanitize || rc=$$?; fi; \
	node scripts/test-summary.mjs $$start $(BUILD_DIR) $(SANITIZE_DIR); exit $$rc

# The pure tiers (unit, contract: parsers, crypto, config, metrics, routing) again under AddressSanitizer and
# UndefinedBehaviorSanitizer. Integration and e2e tiers run unsanitized: Debian's gRPC/Abseil are not
# instrumented, and their processes' timing matters to those tests.
test-sanitize: deps
	@cmake -S . -B $(SANITIZE_DIR) -G Ninja -DPROTECTOGRAM_SANITIZE=ON >/dev/null
	@cmake --build $(SANITIZE_DIR) -j$$(nproc) --target $$(cmake --build $(SANITIZE_DIR) --target help | \
	  sed -n 's/^\([a-z_]*_\(unit\|contract\|corpus\)_test\):.*/\1/p' | tr '\n' ' ')
	@cd $(SANITIZE_DIR) && rm -f ctest-results.xml && \
	  ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure --output-junit ctest-results.xml -L 'unit|contract'

# Builds only the processes it starts (a fresh clone's first `make run` skips the tests' build).
RUN_TARGETS := protectogram-edge protectogram-incident protectogram-notification protectogram-telephony \
  protectogram-migrate protectogram-sim
run: configure
	@cmake --build $(BUILD_DIR) -j$$(nproc) --target $(RUN_TARGETS)
	@BUILD_DIR=$(BUILD_DIR) scripts/run-local.sh

format:
	@git ls-files '*.h' '*.cc' | xargs clang-format -i

bench: build
	@scripts/bench.sh

clean:
	rm -rf $(BUILD_DIR) $(SANITIZE_DIR)
