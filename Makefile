# edgelm: `make demo` runs the main job end to end, `make test` runs the tests.
# Both work on a fresh Debian 12 machine: `make setup` installs what they need.

BUILD ?= build
BUILD_ASAN ?= build-asan
BUILD_ARM ?= build-arm
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages the build, tests and demo need.
# libtorch-dev needs libopenblas0-pthread beside it, or it falls back to the reference BLAS
# and trains ~30x slower; libgloo-dev is for data-parallel training (c10d's Gloo);
# chromium renders `edgelm compress --report` pages in a test; prometheus brings promtool,
# which checks edgelm serve's /metrics in a test. libcpp-httplib-dev is edgelm serve's HTTP.
APT_PACKAGES := cmake ninja-build g++ pkg-config libcli11-dev nlohmann-json3-dev libcpp-httplib-dev \
	libgtest-dev libgmock-dev libsentencepiece-dev npm \
	libtorch-dev libopenblas0-pthread libgloo-dev xz-utils p7zip-full chromium prometheus

# For `make test-arm` only: the aarch64 cross compiler, qemu user emulation, and
# GoogleTest's sources (built for the target in the cross build).
APT_PACKAGES_ARM := cmake ninja-build libgtest-dev g++-aarch64-linux-gnu qemu-user-static
# Emulated CPUs: "max" has dotprod (tests the "neon" and "neon-dotprod" kernels),
# "cortex-a53" has not (only "neon").
ARM_CPUS ?= max cortex-a53

.PHONY: setup setup-arm build test test-asan test-arm demo spam clean format

# npm is only installed from Debian when no npm is on the PATH: a machine with nodejs from
# elsewhere (NodeSource's package conflicts with Debian's npm) keeps its own.
setup:
	@missing=$$(for p in $(APT_PACKAGES); do \
		if [ $$p = npm ] && command -v npm >/dev/null; then continue; fi; \
		dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		$(SUDO) apt-get install -y --no-install-recommends $$missing || \
		{ $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends $$missing; }; \
	fi
	@bash scripts/fetch_data.sh
	@# The real clients the serving tests use (tests/clients/package.json; never committed).
	@[ -d tests/clients/node_modules/openai ] || \
		(cd tests/clients && npm ci --no-audit --no-fund --loglevel=error)

build:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DEDGELM_TRAIN=ON $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

test: setup build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The untrusted-input tests (GGUF parser, tokenizers, session files, the server's requests:
# its end-to-end tests run the ASan-built edgelm serve, whose exit status fails them on a
# leak) under ASan + UBSan.
test-asan: setup
	cmake -S . -B $(BUILD_ASAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DEDGELM_SANITIZE=ON -DEDGELM_TRAIN=OFF
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	cd $(BUILD_ASAN) && ctest --output-on-failure -j $(JOBS) -R 'Gguf|Tokenizer|Spm|Gpt2|Session|Quantize|Gptq|ScoredWindows|CompressionStages|StructuredPrune|MagnitudePrune|SparseKernels|SparseStorage|LoraAdapter|RowGroups|ActivationScaling|Huffman|WeightClustering|ClusteredKernels|ClusteredModel|KernelVariants|QuantTest|TokenShards|Documents|DocumentFormat|LineReader|SpmVocabulary|DataPrepare|EmailMessage|ClassificationMetrics|NaiveBayes|SequenceClassifier|SessionBatch|Serve|ChatCli'

setup-arm:
	@missing=$$(for p in $(APT_PACKAGES_ARM); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		$(SUDO) apt-get install -y --no-install-recommends $$missing || \
		{ $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends $$missing; }; \
	fi

# The aarch64 (NEON) kernels: cross-compile the runtime and the tests that need no data
# (EDGELM_CROSS_TESTS in CMakeLists.txt), then run them under qemu on each of ARM_CPUS.
test-arm: setup-arm
	cmake -S . -B $(BUILD_ARM) -G Ninja -DCMAKE_BUILD_TYPE=Release \
		-DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DEDGELM_TOOLS=OFF
	cmake --build $(BUILD_ARM) -j $(JOBS) --target cross_tests
	@set -e; for cpu in $(ARM_CPUS); do \
		echo "== aarch64 tests under qemu, QEMU_CPU=$$cpu"; \
		QEMU_CPU=$$cpu ctest --test-dir $(BUILD_ARM) --output-on-failure -j $(JOBS); \
	done

demo: setup build
	bash scripts/demo.sh $(BUILD)/edgelm

# The spam-filter task on SpamAssassin's corpus (docs/classification.md).
spam: setup build
	bash scripts/spam.sh $(BUILD)/edgelm

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_ARM)
