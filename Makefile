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

.PHONY: build run lint test bench fmt vet clean

build:
	$(GO) build $(GOFLAGS_B) -o $(BIN)/netburst_exporter ./cmd/netburst_exporter
	$(GO) build $(GOFLAGS_B) -o $(BIN)/netburst ./cmd/netburst

# Runs the exporter with its defaults: every interface of this host sampled
# every 100 ms, metrics on http://localhost:9917/metrics, no probe target.
run: build
	$(BIN)/netburst_exporter

# Linters, their versions pinned in internal/tools/go.mod (a module of its
# own, so that the project's go.mod stays free of them) and built from the
# module proxy's sources into $(LINTBIN). The non-Linux vet, build and
# staticcheck keep the _others.go stubs compiling and honest.
LINTBIN ?= $(abspath $(BIN))/lint
# misspell: the tree writes British English. Left out are words that are
# names, not prose: in Go comments the functions summarize, finalize and
# normalize, gopacket's Serialize and locate's Analyze; in the other files
# systemd-analyze, Grafana's color and organize, Prometheus' humanize and
# 802.3ad's synchronization bit.
MISSPELL_GO  := analyze,serialize,serialized,summarize,finalize,normalize
MISSPELL_TXT := analyze,color,humanize,organize,synchronization

lint:
	cd internal/tools && $(GO) build -o $(LINTBIN)/ tool
	$(GO) vet ./...
	GOOS=darwin $(GO) vet ./...
	GOOS=windows $(GO) build ./...
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"
	$(LINTBIN)/staticcheck ./...
	GOOS=darwin $(LINTBIN)/staticcheck ./...
	$(LINTBIN)/go-errorlint -errorf ./...
	$(LINTBIN)/misspell -error -locale UK -source go -i $(MISSPELL_GO) $$(git ls-files '*.go')
	$(LINTBIN)/misspell -error -locale UK -i $(MISSPELL_TXT) \
		$$(git ls-files '*.md' '*.yml' '*.yaml' '*.tmpl' '*.sh' '*.json' 'deploy/*' '.ci/run' ':!*.go')

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
