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

test: build lint
	@cd $(BUILD_DIR) && ctest --output-on-failure $(CTEST_FLAGS)
	@$(MAKE) --no-print-directory test-sanitize

# The pure tiers (unit, contract: parsers, crypto, config, metrics, routing) again under AddressSanitizer and
# UndefinedBehaviorSanitizer. Integration and e2e tiers run unsanitized: Debian's gRPC/Abseil are not
# instrumented, and their processes' timing matters to those tests.
test-sanitize: deps
	@cmake -S . -B $(SANITIZE_DIR) -G Ninja -DPROTECTOGRAM_SANITIZE=ON >/dev/null
	@cmake --build $(SANITIZE_DIR) -j$$(nproc) --target $$(cmake --build $(SANITIZE_DIR) --target help | \
	  sed -n 's/^\([a-z_]*_\(unit\|contract\|corpus\)_test\):.*/\1/p' | tr '\n' ' ')
	@cd $(SANITIZE_DIR) && ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure -L 'unit|contract'

run: build
	@scripts/run-local.sh

format:
	@git ls-files '*.h' '*.cc' | xargs clang-format -i

bench: build
	@scripts/bench.sh

clean:
	rm -rf $(BUILD_DIR) $(SANITIZE_DIR)
