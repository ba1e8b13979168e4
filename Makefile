# Outage Lab. `make run` plays the flagship scenario; `make test` is what CI runs.
SHELL := /bin/bash
GO ?= go
BIN := bin
# testcontainers-go: no registry here, so no Ryuk (we own cleanup), and reach
# containers on loopback, never on the default gateway (/.dockerenv exists).
export TESTCONTAINERS_RYUK_DISABLED := true
export TESTCONTAINERS_HOST_OVERRIDE := 127.0.0.1
export CGO_ENABLED ?= 0

.PHONY: all build test unit e2e scenarios run bench lint images clean fuzz

all: build

build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/storefront ./cmd/storefront
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/outagelab ./cmd/outagelab

# Unit + integration (real postgres/redis processes) with the race detector,
# then the Docker end-to-end tests and the smoke scenario when an engine answers.
test: lint build
	CGO_ENABLED=1 $(GO) test -race -timeout 12m ./...
	@if timeout 5 docker info >/dev/null 2>&1; then $(MAKE) e2e; else echo "make test: no Docker engine answers; e2e skipped"; fi

unit:
	CGO_ENABLED=1 $(GO) test -race -short ./...

e2e: build images
	@mkdir -p out
	$(GO) test -tags e2e -count=1 -timeout 20m ./harness/...
	$(GO) test -tags e2e -count=1 -timeout 20m ./scenarios/ -ginkgo.label-filter=smoke -ginkgo.junit-report=$(CURDIR)/out/junit-smoke.xml

scenarios: build images
	@mkdir -p out
	$(GO) test -tags e2e -count=1 -timeout 60m ./scenarios/ -ginkgo.junit-report=$(CURDIR)/out/junit-scenarios.xml

# The flagship at 240x: about eleven incident hours in three minutes of phases.
RUN_SCENARIO ?= aws-us-east-1-2021-12-07
RUN_TIME_SCALE ?= 240
run: build
	@if timeout 5 docker info >/dev/null 2>&1; then $(BIN)/outagelab images; fi
	$(BIN)/outagelab run $(RUN_SCENARIO) --time-scale $(RUN_TIME_SCALE) --out out/run --format html,md,junit

images: build
	$(BIN)/outagelab images

bench: build
	$(GO) run ./bench/cmd/benchdriver -out out/bench -md BENCHMARKS.md

fuzz:
	@for t in $$(grep -rl --include='*_test.go' 'func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -h -o 'func Fuzz[A-Za-z0-9_]*' $$t/*_test.go | cut -d' ' -f2); do \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 10s $$t || exit 1; done; done

lint:
	@out=$$(find . -name '*.go' -not -path './out/*' -not -path './bin/*' | xargs gofmt -l); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	-$(BIN)/outagelab cleanup
	rm -rf $(BIN) out
