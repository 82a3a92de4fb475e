# TorchOnSpark: top-level entry points. Every target does its own set-up.
#   make build              Release build into build/
#   make build SANITIZE=address,undefined   sanitizer build into build-san/
#   make build SANITIZE=thread              ThreadSanitizer build into build-tsan/
#   make test               set-up, build, all tests (+ core tests under ASan/UBSan and TSan)
#   make demo               set-up, build, the MNIST pipeline on Fashion-MNIST
#   make test-torch-compat  the Python suite with an older torch 2.x (its own venv)
#   make wheel              a wheel of the Python package with its extension modules, in dist/
#   make bench              benchmarks, with peers measured in the same run
#   make spark-demo         the MNIST pipeline through spark-submit on a local standalone cluster
#   make fuzz               libFuzzer targets (clang, ASan+UBSan) for FUZZ_SECONDS each
#   make fuzz-smoke         the same, 20 seconds per target (part of make test)
#   make format / format-check / tidy / lint   clang-format and clang-tidy (lint: both checks)

SANITIZE ?=
JOBS ?= $(shell nproc)
ifeq ($(SANITIZE),)
BUILD_DIR ?= build
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release
else ifeq ($(SANITIZE),thread)
BUILD_DIR ?= build-tsan
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTOS_SANITIZE=thread -DTOS_WITH_TORCH=OFF
else
BUILD_DIR ?= build-san
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTOS_SANITIZE=$(SANITIZE) -DTOS_WITH_TORCH=OFF
endif
SAN_DIR := build-san
TSAN_DIR := build-tsan
CTEST_FLAGS ?= --output-on-failure --timeout 300
# Tests run with the project's Python environment first on PATH (python3, tensorboard).
TEST_ENV := env PATH="$(CURDIR)/.venv/bin:$$PATH"
FUZZ_SECONDS ?= 300

.PHONY: wheel test-torch-compat setup spark-setup build test test-core-sanitized test-core-tsan test-deps demo spark-demo bench clean \
	clean-room format format-check tidy lint fuzz fuzz-setup fuzz-smoke

setup:
	@bash scripts/setup.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja $(CMAKE_FLAGS)

build: setup $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build spark-setup test-core-sanitized test-core-tsan test-deps fuzz-smoke
	cd $(BUILD_DIR) && $(TEST_ENV) ctest $(CTEST_FLAGS) -j 2

# Python packages the tests use (TensorBoard and its event reader), in the project's .venv
# (Debian's own Python refuses pip installs); idempotent.
test-deps: spark-setup
	@test -f .venv/.test-deps-$$(sha1sum python/requirements-test.txt | cut -c1-12) || { \
	  .venv/bin/pip install -q --disable-pip-version-check -r python/requirements-test.txt && \
	  touch .venv/.test-deps-$$(sha1sum python/requirements-test.txt | cut -c1-12); }

# Core libraries (formats, I/O, networking, runtime) under AddressSanitizer and UBSan.
test-core-sanitized: setup test-deps
	@test -f $(SAN_DIR)/build.ninja || cmake -S . -B $(SAN_DIR) -G Ninja \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTOS_SANITIZE=address,undefined -DTOS_WITH_TORCH=OFF
	cmake --build $(SAN_DIR) -j $(JOBS)
	cd $(SAN_DIR) && $(TEST_ENV) ctest $(CTEST_FLAGS) -L core -j 2

# Core libraries under ThreadSanitizer; any report fails its test (TSAN_OPTIONS is set per test
# in CMakeLists.txt).
test-core-tsan: setup test-deps
	@test -f $(TSAN_DIR)/build.ninja || cmake -S . -B $(TSAN_DIR) -G Ninja \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTOS_SANITIZE=thread -DTOS_WITH_TORCH=OFF
	cmake --build $(TSAN_DIR) -j $(JOBS)
	cd $(TSAN_DIR) && $(TEST_ENV) ctest $(CTEST_FLAGS) -L core -j 2

# Fuzzing (docs/fuzzing.md): clang 14 from Debian, build-fuzz/, every fuzz/*_fuzz.cc target.
fuzz-setup:
	@bash scripts/fuzz_setup.sh

fuzz: fuzz-setup
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(JOBS) bash scripts/fuzz.sh

fuzz-smoke: fuzz-setup
	FUZZ_SECONDS=20 FUZZ_JOBS=$(JOBS) bash scripts/fuzz.sh

# The Python suite again with an older torch 2.x (python/requirements-torch-compat.txt, in
# .venv-torch-compat, about 4 GB): the extension modules link no libtorch and must work with any.
test-torch-compat: build
	VENV=$(CURDIR)/.venv-torch-compat TOS_REQUIREMENTS=$(CURDIR)/python/requirements-torch-compat.txt \
	  bash scripts/pytest_suite.sh python $(BUILD_DIR)/bin

# A wheel of the Python package with its extension modules, built by the project's CMake
# (python/pyproject.toml, scikit-build-core) for .venv's Python, into dist/.
wheel: setup
	.venv/bin/pip wheel --no-deps ./python -w dist

demo: build
	@bash scripts/demo.sh

spark-setup:
	@bash scripts/spark_setup.sh

spark-demo: build spark-setup
	@bash scripts/spark_demo.sh

bench: build spark-setup
	@bash scripts/bench.sh

# make demo and make test in a fresh minimal Debian 12 root (scripts/clean_room.sh); slow.
clean-room:
	bash scripts/clean_room.sh

clean:
	rm -rf build build-san build-tsan build-fuzz

# Style (docs/style.md): clang-format and clang-tidy 14; .ci/run runs `make lint` before the tests.
format:
	@bash scripts/lint.sh format

format-check:
	@bash scripts/lint.sh format-check

tidy: build
	@bash scripts/lint.sh tidy $(BUILD_DIR)

lint: format-check tidy
