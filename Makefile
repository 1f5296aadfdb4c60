# kefu — `make run` sets up and serves the demo; `make test` runs every test.
SHELL := /bin/bash
GO ?= go
# Go 1.26's simd/archsimd kernels; without it the pure-Go fallbacks build.
export GOEXPERIMENT ?= simd
export CGO_ENABLED := 1
ORT_DIR := third_party/onnxruntime
ORT_LIB := $(ORT_DIR)/libonnxruntime.so.1
SHARED ?= $(abspath ../shared)
ADDR ?= 127.0.0.1:8080
DATA ?= data
FUZZTIME ?= 4s

.PHONY: all build run test test-deps test-go test-fallback test-qdrant test-docker fuzz ort bench node-baseline clean

LDFLAGS := -X github.com/kefu-dev/kefu/embed.BuiltinORTLib=$(abspath $(ORT_LIB))

all: build

ort: $(ORT_LIB)
$(ORT_LIB): scripts/fetch-ort.sh
	./scripts/fetch-ort.sh $(ORT_DIR)

# The binary finds the library next to it (../third_party/onnxruntime) or at
# the absolute path baked in here, so bin/kefu needs no settings.
build: ort
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/kefu ./cmd/kefu

# First start ingests the demo knowledge bases into $(DATA); later starts reuse them.
run: build
	KEFU_SHARED=$(SHARED) ./bin/kefu serve --addr $(ADDR) --data-dir $(DATA) --demo $(SHARED)/data/demo

test: ort test-deps test-go test-fallback fuzz

test-deps:
	./scripts/test-deps.sh

test-go:
	KEFU_REQUIRE_SHARED=1 KEFU_SHARED=$(SHARED) KEFU_ORT_LIB=$(abspath $(ORT_LIB)) $(GO) test -count=1 -timeout 30m ./...

# The pure-Go kernels, built without GOEXPERIMENT=simd, must agree with the SIMD ones.
test-fallback:
	GOEXPERIMENT= KEFU_REQUIRE_SHARED=1 KEFU_SHARED=$(SHARED) $(GO) test -count=1 ./index/...

# The Store contract against a real Qdrant, e.g. compose.yaml's:
# make test-qdrant KEFU_QDRANT_URL=qdrant://127.0.0.1:6334
test-qdrant:
	@test -n "$(KEFU_QDRANT_URL)" || { echo "make test-qdrant: set KEFU_QDRANT_URL=qdrant://HOST:6334 (a running Qdrant)" >&2; exit 2; }
	KEFU_QDRANT_URL=$(KEFU_QDRANT_URL) KEFU_REQUIRE_SHARED=1 KEFU_SHARED=$(SHARED) $(GO) test -count=1 -v -run 'TestStoreContract|TestKeywordParity' ./index/qdrant/

# Every fuzz target for a short time; longer runs: make fuzz FUZZTIME=5m
fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

# The benchmarks are their own binary, so bin/kefu ships no harness:
# bin/kefu-bench embed|vector|hnsw|search|ingest|http|ws (BENCHMARKS.md).
bench: ort node-baseline
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/kefu-bench ./cmd/kefu-bench

# The Node.js baseline of `kefu-bench embed --node` (tests/nodeort): its
# locked onnxruntime-node from the npm registry, without the package's
# install script (the package carries the CPU library; the script fetches
# GPU providers). Without npm, only that comparison is unavailable.
node-baseline: tests/nodeort/node_modules/.package-lock.json
tests/nodeort/node_modules/.package-lock.json: tests/nodeort/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "make bench: npm not found: kefu-bench embed --node will not run" >&2; exit 0; }; \
	cd tests/nodeort && npm ci --ignore-scripts --silent --no-audit --no-fund

# The Dockerfile built with podman and the image smoke-tested (scripts/docker-test.sh).
test-docker:
	KEFU_SHARED=$(SHARED) ./scripts/docker-test.sh

clean:
	rm -rf bin
