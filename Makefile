# netburst: build, run and test. CGO is off: one static binary per command.
GO        ?= go
BIN       ?= bin
VERSION   ?= $(shell cat VERSION 2>/dev/null || echo 0.0.0)
REVISION  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
BRANCH    ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
VPKG      := github.com/prometheus/common/version
LDFLAGS   := -s -w -X $(VPKG).Version=$(VERSION) -X $(VPKG).Revision=$(REVISION) -X $(VPKG).Branch=$(BRANCH) \
             -X $(VPKG).BuildUser=$(shell id -un)@$(shell hostname) -X $(VPKG).BuildDate=$(shell date -u +%Y%m%d-%H:%M:%S)
GOFLAGS_B := -trimpath -ldflags "$(LDFLAGS)"
export CGO_ENABLED ?= 0

.PHONY: build run test bench fmt vet clean

build:
	$(GO) build $(GOFLAGS_B) -o $(BIN)/netburst_exporter ./cmd/netburst_exporter
	$(GO) build $(GOFLAGS_B) -o $(BIN)/netburst ./cmd/netburst

# Runs the exporter with its defaults: every interface of this host sampled
# every 100 ms, metrics on http://localhost:9917/metrics, no probe target.
run: build
	$(BIN)/netburst_exporter

# The whole suite. Real-kernel tests need root (they create and remove their
# own network namespaces) and skip with a message otherwise. Then the whole
# suite again under the race detector: -short skips only the few tests too
# slow for it (soaks, benchmark-sized tests), each saying why.
test:
	$(GO) vet ./...
	test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"
	$(GO) test -count=1 -timeout 25m ./...
	CGO_ENABLED=1 $(GO) test -race -short -count=1 -timeout 20m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf $(BIN)
