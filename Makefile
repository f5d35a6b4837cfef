# A thin front for people; CMake is the build.
#   make run    install deps, build Release, start on config/default.toml
#   make test   install deps, build with ASan+UBSan (clang, fuzzers included), run ctest
#   make bench  install deps, build Release, run the benchmarks (CPU per record beside socat and
#               nfacctd tee, TCP, UDP vs nfacctd tee, TLS, 100k Pods,
#               ClickHouse, gRPC, aggregate mode)
#   make fuzz   run every libFuzzer target for FUZZ_SECONDS each (default 300)
#   make soak   install deps, build Release, run the soak test for SOAK_MINUTES (default 30)
#   make container-test  build the container image with buildah, run it, send traffic through

JOBS ?= $(shell nproc)
RELEASE_DIR ?= build/release
TEST_DIR ?= build/test
FUZZ_SECONDS ?= 300
FUZZERS = fuzz_ipfix_message fuzz_session_path
SOAK_MINUTES ?= 30
CONFIG ?= config/default.toml

.PHONY: deps build build-test run test bench fuzz soak container-test format clean

deps:
	@bash scripts/install-deps.sh

build: deps
	cmake -S . -B $(RELEASE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DFA_TESTS=OFF
	cmake --build $(RELEASE_DIR) -j $(JOBS)

build-test: deps
	cmake -S . -B $(TEST_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_CXX_COMPILER=clang++ -DFA_SANITIZE=ON -DFA_FUZZ=ON -DCMAKE_CXX_FLAGS=-O1
	cmake --build $(TEST_DIR) -j $(JOBS)

run: build
	$(RELEASE_DIR)/app/flow-aggregator run -c $(CONFIG)

test: build-test
	cd $(TEST_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600

bench: build
	bash test/bench/cpu.sh $(RELEASE_DIR)
	bash test/bench/run.sh $(RELEASE_DIR)
	bash test/bench/udp.sh $(RELEASE_DIR)
	bash test/bench/tls.sh $(RELEASE_DIR)
	bash test/bench/labels.sh $(RELEASE_DIR)
	bash test/bench/clickhouse.sh $(RELEASE_DIR)
	bash test/bench/grpc.sh $(RELEASE_DIR)
	bash test/bench/aggregate.sh $(RELEASE_DIR)
	bash test/bench/scaleout.sh $(RELEASE_DIR)

# Each target grows its corpus in $(TEST_DIR)/fuzz-corpus/<target> (seeded at build time).
fuzz: build-test
	set -e; for f in $(FUZZERS); do \
	  $(TEST_DIR)/test/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    $(TEST_DIR)/fuzz-corpus/$$f; \
	done

# Outside CI: SOAK_MINUTES of load with collector restarts, Pod churn, reloads and a
# hostile client; samples and report in $(RELEASE_DIR)/soak (test/soak/soak.sh).
soak: build
	SOAK_MINUTES=$(SOAK_MINUTES) bash test/soak/soak.sh $(RELEASE_DIR)

# Builds the image with buildah (no daemon), runs it and sends IPFIX through it
# (scripts/container-test.sh; its own packages come from scripts/install-deps.sh --container).
container-test: deps
	JOBS=$(JOBS) bash scripts/container-test.sh $(RELEASE_DIR)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf build
