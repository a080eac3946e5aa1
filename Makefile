# The two commands: `make run` and `make test`. Both install what is missing first.
BUILD_DIR ?= build
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1
CMAKE_FLAGS ?=
CTEST_FLAGS ?=

.PHONY: deps configure build test run lint format format-check bench clean

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

run: build
	@scripts/run-local.sh

format:
	@git ls-files '*.h' '*.cc' | xargs clang-format -i

bench: build
	@scripts/bench.sh

clean:
	rm -rf $(BUILD_DIR)
