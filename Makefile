# retool: `make run` sets up this machine and runs the default job;
# `make test` runs every test (what .ci/run calls).
GO        ?= go
BIN       := bin
RUNTIMES  := python sympy julia
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0-dev)
LDFLAGS   := -X github.com/retool-rl/retool/version.Version=$(VERSION)
DEB_PKGS  := python3 python3-sympy python3-numpy nodejs runc
# containerd and its runc shim, for the containerd backend's tests: built
# from the Go module proxy once (no registry, no package needed).
CONTAINERD_VERSION := v2.4.2
CONTAINERD_BIN     := $(CURDIR)/$(BIN)/containerd

.PHONY: build run test deps containerd-bin bench bench-containerd bench-train bench-matmul generate check-generated clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/retool ./cmd/retool
	@for r in $(RUNTIMES); do \
		echo "$(GO) build -o $(BIN)/retool-runtime-$$r ./runtimes/$$r"; \
		$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/retool-runtime-$$r ./runtimes/$$r || exit 1; \
	done

# deps installs the Debian packages the runtimes need, only when missing.
deps:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

containerd-bin:
	@if [ ! -x $(CONTAINERD_BIN)/containerd ] || [ ! -x $(CONTAINERD_BIN)/containerd-shim-runc-v2 ]; then \
		echo "building containerd $(CONTAINERD_VERSION) and its runc shim into $(CONTAINERD_BIN)"; \
		GOBIN=$(CONTAINERD_BIN) $(GO) install github.com/containerd/containerd/v2/cmd/containerd@$(CONTAINERD_VERSION) && \
		GOBIN=$(CONTAINERD_BIN) $(GO) install github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$(CONTAINERD_VERSION); \
	fi

run: deps build
	@for r in python sympy; do $(BIN)/retool plugin install --force $(BIN)/retool-runtime-$$r || exit 1; done
	$(BIN)/retool run retool.hcl

# The pools' hostile-code suite runs a second time on the containerd
# backend (a private daemon). The quick training profile runs last and
# alone: it takes all the CPU for a couple of minutes, which would skew
# the timing of the others.
test: deps containerd-bin
	RETOOL_CONTAINERD_BIN=$(CONTAINERD_BIN) $(GO) test -race -count=1 -timeout 20m ./...
	RETOOL_TEST_SANDBOX=containerd RETOOL_CONTAINERD_BIN=$(CONTAINERD_BIN) $(GO) test -race -count=1 -timeout 10m ./core/pool/
	RETOOL_TEST_TRAIN=1 $(GO) test -count=1 -timeout 15m -run '^TestQuickProfile$$' -v ./cmd/retool/

bench: deps build
	$(GO) test -run '^$$' -bench 'Pool|Fresh' -benchtime 200x -count 5 ./bench/...
	$(GO) test -run '^$$' -bench 'WorkerStart' -benchtime 20x -count 5 ./bench/...
	$(GO) test -run '^$$' -bench 'RolloutSandbox' -benchtime 10x -count 5 ./bench/...
	$(GO) test -run '^$$' -bench 'RunOverhead' -benchtime 10x -count 5 ./trainer/rollout/

# bench-containerd: warm executions on the containerd backend against the
# native one in the same run (a private daemon) -> bench/results/containerd.md
bench-containerd: deps containerd-bin
	RETOOL_CONTAINERD_BIN=$(CONTAINERD_BIN) $(GO) run ./bench/containerd -out bench/results

# bench-train runs the default train job from scratch and keeps its report
# (wall time, the final table, the plots) as bench/results/train.md, with
# the model's training and sampling throughput (go test -bench).
bench-train: deps build
	@for r in python sympy; do $(BIN)/retool plugin install --force $(BIN)/retool-runtime-$$r >/dev/null || exit 1; done
	rm -rf runs/retool-bench
	$(BIN)/retool run retool.hcl --profile bench
	mkdir -p bench/results/train
	sed 's|(plots/|(train/|g' runs/retool-bench/report.md > bench/results/train.md
	cp runs/retool-bench/results.json bench/results/train.json
	cp runs/retool-bench/plots/*.png bench/results/train/
	$(GO) test -run '^$$' -bench 'Train|Sample$$|Decoder' -benchtime 20x -count 5 ./trainer/model/ | tee bench/results/model.txt

# bench-matmul compares trainer/linalg with OpenBLAS (needs libopenblas-dev).
bench-matmul:
	$(GO) run -tags openblas ./bench/matmul -out bench/results

generate:
	$(GO) generate ./...

# check-generated fails when the committed protobuf code differs from
# what `go generate` produces (needs protoc: apt-get install protobuf-compiler).
check-generated: generate
	git diff --exit-code -- plugins/proto

clean:
	rm -rf $(BIN)
