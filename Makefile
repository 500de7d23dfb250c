# prefsd's build. `make help` lists the targets.

GO        ?= go
TAGS      := hashicorpmetrics
BIN       := bin/prefsd
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
FUZZTIME  ?= 30s
CHAOS_RUNS     ?= 3
CHAOS_DURATION ?= 60s
CHAOS_SEED     ?= 0
PKGS      := ./...
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help build run test test-short test-docker bench bench-compare bench-size profile fuzz chaos vet fmt-check tidy-check check clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/prefsd (static, with raft metrics)
	CGO_ENABLED=0 $(GO) build -trimpath -tags $(TAGS) -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/prefsd

run: build ## run one node on 127.0.0.1:8080 with data in ./data
	./$(BIN) $(ARGS)

test: ## every test, race detector on (unit, in-process cluster, end-to-end)
	$(GO) test -race -count=1 -tags $(TAGS) -timeout 9m $(PKGS)

test-docker: ## build the prefsd and haproxy images and run a 3-node compose cluster through a partition and a kill (needs Docker, docker-compose, haproxy)
	$(GO) test -count=1 -tags '$(TAGS) docker' -timeout 15m -run '^TestDockerCompose$$' -v ./deploy/

test-short: ## the quick tests only
	$(GO) test -race -count=1 -short -tags $(TAGS) $(PKGS)

bench: ## benchmarks: state machine and a 3-node in-process cluster
	$(GO) test -run '^$$' -bench . -skip '^BenchmarkSize' -benchmem -tags $(TAGS) ./fsm/ ./cluster/

bench-compare: build ## prefsd against etcd: 3 nodes each on loopback, the same workloads and a failover, one table (installs etcd from Debian if missing; BENCH_ARGS for more flags)
	@command -v etcd >/dev/null || { echo "installing etcd from Debian's packages"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq etcd-server etcd-client; }
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/prefsbench ./cmd/prefsbench
	$(GO) build -trimpath -o bin/benchcompare ./cmd/benchcompare
	./bin/benchcompare -prefsd $(BIN) -prefsbench bin/prefsbench -dir bin/bench-compare -json bin/bench-compare.json $(BENCH_ARGS)

bench-size: ## memory per stored byte, snapshot size and times, and a new node's catch-up at 1M preferences (SIZE_ARGS=-size.users=N for fewer)
	$(GO) test -p 1 -count=1 -run '^$$' -bench '^BenchmarkSize' -benchtime=1x -tags $(TAGS) -timeout 60m ./fsm/ ./cluster/ -args $(SIZE_ARGS)

profile: ## CPU and memory profiles of the api handler and fsm command benchmarks in bin/profiles/, and the top 15 of each
	@mkdir -p bin/profiles
	$(GO) test -run '^$$' -bench . -benchmem -benchtime=1s -tags $(TAGS) -o bin/profiles/api.test \
	  -cpuprofile bin/profiles/api.cpu.pprof -memprofile bin/profiles/api.mem.pprof ./api/
	$(GO) test -run '^$$' -bench '^Benchmark(Apply|Encode|Stamp|Decode)' -benchmem -benchtime=1s -tags $(TAGS) -o bin/profiles/fsm.test \
	  -cpuprofile bin/profiles/fsm.cpu.pprof -memprofile bin/profiles/fsm.mem.pprof ./fsm/
	@for p in api fsm; do \
	  echo "== $$p: CPU (bin/profiles/$$p.cpu.pprof)"; \
	  $(GO) tool pprof -top -nodecount=15 bin/profiles/$$p.test bin/profiles/$$p.cpu.pprof || exit 1; \
	  echo "== $$p: allocated bytes (bin/profiles/$$p.mem.pprof)"; \
	  $(GO) tool pprof -top -nodecount=15 -sample_index=alloc_space bin/profiles/$$p.test bin/profiles/$$p.mem.pprof || exit 1; \
	done

fuzz: ## run every fuzz target for FUZZTIME each
	@for pkg in $$($(GO) list -tags $(TAGS) ./...); do \
	  for t in $$($(GO) test -tags $(TAGS) -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; \
	    $(GO) test -tags $(TAGS) -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

chaos: ## randomized fault schedules on real processes (CHAOS_RUNS, CHAOS_DURATION, CHAOS_SEED); log in bin/chaos.log
	@mkdir -p bin
	@echo "running $(CHAOS_RUNS) schedule(s) of $(CHAOS_DURATION); full log in bin/chaos.log"
	@$(GO) test -count=1 -tags $(TAGS) -timeout 0 -run '^TestChaos$$' -v ./e2e/ \
	  -args -chaos.runs=$(CHAOS_RUNS) -chaos.duration=$(CHAOS_DURATION) -chaos.seed=$(CHAOS_SEED) >bin/chaos.log 2>&1; \
	  status=$$?; \
	  grep -E '^ *--- (PASS|FAIL)|reproduce with|^(ok|FAIL)' bin/chaos.log; \
	  sed -n '/^chaos summary/,/acknowledged writes lost/p' bin/chaos.log; \
	  exit $$status

vet: ## go vet, with and without the metrics tag
	$(GO) vet ./...
	$(GO) vet -tags $(TAGS) ./...

fmt-check: ## fail if gofmt would change a file
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

tidy-check: ## fail if go.mod or go.sum are not tidy
	$(GO) mod tidy -diff

check: fmt-check vet test ## what CI runs

clean: ## remove build output
	rm -rf bin
