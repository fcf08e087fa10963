# DeepFusion — build, test and install dfc.
#
#   make              release build of dfc
#   make demo         compile, verify and run the ResNet-8 shipped in Fixtures/demo
#   make test         install what the tests need (apt, pip), build, run every test
#   make install      dfc, its man page and bash/zsh/fish completions; PREFIX=/usr/local DESTDIR= (staged installs welcome)
#   make bench        dfc vs onnxruntime on six CNNs; writes docs/bench.md (BENCH_FLAGS=--quick)
#   make zoo          torchvision and onnx light CNNs through dfc; writes docs/zoo.md (ZOO_FLAGS="--only resnet18")
#   make proto        regenerate the protobuf-c code from proto/onnx-subset.proto
#   make sz           line counts per source folder
#   make lint         swift-format check (120 columns, .swift-format); make format rewrites in place
#   make fuzz         structure-aware fuzzing through the real dfc (FUZZ_SEED=1 FUZZ_SECONDS=300)
#   make asan         the import, fuzz and hostile-input tests under AddressSanitizer (+ UBSan for the C code)

SWIFT    ?= swift
PYTHON   ?= python3
PREFIX   ?= /usr/local
DESTDIR  ?=
CACHE    ?= .cache
# Release builds: the interpreter and executor run whole networks in tests.
RELEASE_FLAGS := -c release -Xswiftc -warnings-as-errors
# On Linux dfc links Swift's runtime and Foundation statically: no dynamic symbol binding at start-up
# (dfc --version 16 -> 10 ms of CPU) and direct calls into the runtime (MobileNetV2's compile 0.92x of
# the CPU, run --timing-only on SqueezeNet 0.82x, farm-bench); the binary grows from 21 to 91 MB, and
# the link repeats a warning of glibc about mktemp in the static Foundation (its own, not dfc's).
BUILD_FLAGS := $(RELEASE_FLAGS) $(if $(filter Linux,$(shell uname -s)),--static-swift-stdlib)
TEST_FLAGS  := $(RELEASE_FLAGS) -Xswiftc -enable-testing
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := libprotobuf-c-dev protobuf-c-compiler pkg-config graphviz libopenblas-dev

DEMO_OUT := out/demo

.PHONY: all build demo test fuzz asan deps apt-deps pip-deps conformance-data test-bench-models bench zoo zoo-deps \
        install install-files uninstall proto sz lint format clean

all: build

build: apt-deps
	$(SWIFT) build $(BUILD_FLAGS) --product dfc

# The bundled example: compile with --verify, run, compare with onnxruntime's output.
demo: build
	@mkdir -p $(DEMO_OUT)
	@BIN="$$($(SWIFT) build $(BUILD_FLAGS) --show-bin-path)"; \
	set -e; \
	echo "\$$ dfc compile Fixtures/demo/resnet8.onnx -o $(DEMO_OUT)/resnet8.dfx --verify --report $(DEMO_OUT)/report.json"; \
	"$$BIN/dfc" compile Fixtures/demo/resnet8.onnx -o $(DEMO_OUT)/resnet8.dfx --verify --report $(DEMO_OUT)/report.json; \
	echo "\$$ dfc run $(DEMO_OUT)/resnet8.dfx --input input=Fixtures/demo/resnet8.input.npy --output-dir $(DEMO_OUT) --stats $(DEMO_OUT)/stats.json"; \
	"$$BIN/dfc" run $(DEMO_OUT)/resnet8.dfx --input input=Fixtures/demo/resnet8.input.npy --output-dir $(DEMO_OUT) --stats $(DEMO_OUT)/stats.json; \
	"$$BIN/dfc" compare $(DEMO_OUT)/output.npy Fixtures/demo/resnet8.expected.npy

test: deps conformance-data test-bench-models
	$(SWIFT) build $(TEST_FLAGS)
	DFC_VERIFY_STAGES=1 DFC_CONFORMANCE_DIR=$(CURDIR)/$(CACHE)/conformance $(SWIFT) test $(TEST_FLAGS)

# Longer structure-aware fuzzing than make test's bounded run: mutated ONNX models (protobuf fields,
# truncations, splices) and .dfx programs (fields at their real offsets, checksum recomputed), each case
# through the real dfc in a process of its own, for FUZZ_SECONDS. A case that crashes, hangs or prints
# more than one error line is saved as Fixtures/fuzz/KIND-seedS-caseN (make test reruns every saved case).
# The bounded fuzz tests run with FUZZ_SEED too.
FUZZ_SEED    ?= 1
FUZZ_SECONDS ?= 300
FUZZ_TESTS   := FuzzCampaign|ONNXFuzzTests|MutationFuzzTests

fuzz: apt-deps
	$(SWIFT) build $(TEST_FLAGS) --build-tests
	DFC_VERIFY_STAGES=1 FUZZ_SEED=$(FUZZ_SEED) FUZZ_SECONDS=$(FUZZ_SECONDS) \
	  $(SWIFT) test $(TEST_FLAGS) --skip-build --filter '$(FUZZ_TESTS)'

# AddressSanitizer over the Swift code and AddressSanitizer + UndefinedBehaviorSanitizer over the C targets
# (the protobuf-c generated code, the temp-file signal handler), in a debug build (its bounds checks on) of
# its own scratch path, running the tests that feed dfc hostile input: import, the fuzz tests, the hostile
# fixtures, the .dfx decoder and validator. About 3 minutes on 2 cores from a clean .build-asan (the
# tests themselves a minute), so CI runs it.
ASAN_FLAGS := --scratch-path .build-asan -Xswiftc -sanitize=address -Xcc -fsanitize=address,undefined \
              -Xcc -fno-sanitize-recover=undefined -Xswiftc -Xclang-linker -Xswiftc -fsanitize=undefined \
              -Xswiftc -enable-testing
ASAN_TESTS := ImportTests|TensorIOTests|ONNXFuzzTests|MutationFuzzTests|HostileInputTests|HandBuiltProgramTests|ISARoundTripTests|CompileCommandTests|RunCommandTests

asan: apt-deps
	$(SWIFT) build $(ASAN_FLAGS) --build-tests
	ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(SWIFT) test $(ASAN_FLAGS) --skip-build --filter '$(ASAN_TESTS)'

deps: apt-deps pip-deps

apt-deps:
	@dpkg -s $(APT_PACKAGES) >/dev/null 2>&1 || { \
	  echo "installing $(APT_PACKAGES)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES); }

pip-deps:
	@$(PYTHON) -c "import onnx, onnxruntime, numpy" 2>/dev/null || \
	  $(PYTHON) -m pip install -q -r Tools/requirements.txt

# ONNX's own test models, with inputs and expected outputs (not in git).
conformance-data: pip-deps
	$(PYTHON) Tools/gen_conformance.py $(CACHE)/conformance

# The bench networks the tests compile: SqueezeNet (dfc compile --graph, dfc inspect), 5 MB, 6 s to build;
# ResNet-18 and MobileNetV2, whose executor counts BenchProgramRunTests checks against Fixtures/run-stats.json.
test-bench-models: pip-deps
	$(PYTHON) Tools/gen_bench_models.py $(CACHE)/bench --models squeezenet1_0,resnet18,mobilenet_v2

# Six benchmark networks (seeded weights, cached in $(CACHE)/bench): traffic, cycles,
# compile and executor wall time next to onnxruntime's; the table goes to docs/bench.md.
bench: build pip-deps
	$(PYTHON) Tools/bench.py --cache $(CACHE)/bench --build-flags="$(BUILD_FLAGS)" $(BENCH_FLAGS)

# Public CNNs with seeded random weights: torchvision exports (torch is installed here only, never for
# make test) and onnx's light graphs, cached in $(CACHE)/zoo; compile, --verify, --no-fusion, run against
# onnxruntime. The table goes to docs/zoo.md; a whole run takes about 15 minutes on 2 cores (exporting
# the models the first time 4 more).
ZOO_TORCH := torch==2.13.0+cpu "torchvision==0.28.*"

zoo: build pip-deps zoo-deps
	$(PYTHON) Tools/zoo.py --cache $(CACHE)/zoo --dfc "$$($(SWIFT) build $(BUILD_FLAGS) --show-bin-path)/dfc" $(ZOO_FLAGS)

# The exact CPU build: a bare `torch` would pull the CUDA one.
zoo-deps:
	@$(PYTHON) -c "import sys; from importlib.metadata import version as v; \
	  sys.exit(v('torch') != '2.13.0+cpu' or not v('torchvision').startswith('0.28.'))" 2>/dev/null || \
	  $(PYTHON) -m pip install -q $(ZOO_TORCH)

# Where make install puts what it installs, under $(DESTDIR)$(PREFIX).
INSTALLED := bin/dfc share/man/man1/dfc.1 share/bash-completion/completions/dfc share/zsh/site-functions/_dfc \
             share/fish/vendor_completions.d/dfc.fish

install: build
	$(SWIFT) build $(BUILD_FLAGS) --product dfc-manual
	@$(MAKE) --no-print-directory install-files BIN="$$($(SWIFT) build $(BUILD_FLAGS) --show-bin-path)"

# Installs the dfc in $(BIN), and the man page and completion scripts made from its command definitions
# (by dfc-manual, and dfc --generate-completion-script), so they list whatever subcommands and options
# that dfc has. A test runs it into a scratch DESTDIR (InstallTests).
install-files:
	@test -x "$(BIN)/dfc" && test -x "$(BIN)/dfc-manual" || { echo "install-files: BIN=$(BIN) has no dfc and dfc-manual"; exit 1; }
	@set -e; root="$(DESTDIR)$(PREFIX)"; \
	for f in $(INSTALLED); do install -d "$$root/$$(dirname $$f)"; done; \
	install -m 755 "$(BIN)/dfc" "$$root/bin/dfc"; \
	"$(BIN)/dfc-manual" > "$$root/share/man/man1/dfc.1.tmp"; \
	"$(BIN)/dfc" --generate-completion-script bash > "$$root/share/bash-completion/completions/dfc.tmp"; \
	"$(BIN)/dfc" --generate-completion-script zsh > "$$root/share/zsh/site-functions/_dfc.tmp"; \
	"$(BIN)/dfc" --generate-completion-script fish > "$$root/share/fish/vendor_completions.d/dfc.fish.tmp"; \
	for f in $(filter share/%,$(INSTALLED)); do chmod 644 "$$root/$$f.tmp"; mv "$$root/$$f.tmp" "$$root/$$f"; done; \
	for f in $(INSTALLED); do echo "installed $$root/$$f"; done

uninstall:
	rm -f $(addprefix "$(DESTDIR)$(PREFIX)/,$(addsuffix ",$(INSTALLED)))

# The committed C code in Sources/CONNX comes from this rule.
proto:
	protoc-c --c_out=Sources/CONNX -Iproto proto/onnx-subset.proto
	mv Sources/CONNX/onnx-subset.pb-c.h Sources/CONNX/include/onnx-subset.pb-c.h

SWIFT_SOURCES := Sources Tests Package.swift

# swift-format ships with the Swift toolchain; the rules are in .swift-format.
lint:
	$(SWIFT) format lint --strict --recursive $(SWIFT_SOURCES)

format:
	$(SWIFT) format format --in-place --recursive $(SWIFT_SOURCES)

sz:
	@for d in Sources/* Tests/*; do printf '%6d  %s\n' "$$(find $$d -name '*.swift' | xargs cat 2>/dev/null | wc -l)" "$$d"; done
	@printf '%6d  total Swift\n' "$$(find Sources Tests -name '*.swift' | xargs cat | wc -l)"

clean:
	rm -rf .build .build-asan
