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

.PHONY: build run lint promtool3 test bench fmt vet clean

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
		$$(git ls-files '*.md' '*.yml' '*.yaml' '*.tmpl' '*.libsonnet' '*.sh' '*.json' 'deploy/*' '.ci/run' ':!*.go')

# promtool 3.x for the rule tests, beside Debian's 2.x in PATH: users run
# both, and they round rates differently. Built once from the module proxy
# (-tags remove_all_sd: promtool without the service discoveries it never
# uses here, 2.7 min cold instead of 8) into a cache outside the tree, so
# that new clones reuse it. Module v0.3xx.y is Prometheus 3.xx.y, stamped so
# that --version tells which major it is.
PROMTOOL3_MODULE := v0.316.0
TOOLS            ?= $(abspath $(shell $(GO) env GOCACHE)/../netburst-tools)
PROMTOOL3_BIN    := $(TOOLS)/prometheus-$(PROMTOOL3_MODULE)/promtool
PROMTOOL3_VER    := $(shell echo $(PROMTOOL3_MODULE) | awk -F. '{ printf "3.%d.%s", substr($$2, 2), $$3 }')
# make test hands it to the alerts tests when built (or takes PROMTOOL3 as given).
export PROMTOOL3 ?= $(wildcard $(PROMTOOL3_BIN))

promtool3: $(PROMTOOL3_BIN)

$(PROMTOOL3_BIN):
	GOBIN=$(dir $@) CGO_ENABLED=0 $(GO) install -tags remove_all_sd \
		-ldflags "-s -w -X $(VPKG).Version=$(PROMTOOL3_VER)" \
		github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL3_MODULE)

# The whole suite. Real-kernel tests need root (they create and remove their
# own network namespaces) and skip with a message otherwise. Then the whole
# suite again under the race detector: -short skips only the few tests too
# slow for it (soaks, benchmark-sized tests), each saying why. The rule
# tests run with promtool 2.x (PATH) and, where built, 3.x (PROMTOOL3).
# The lint (vet, gofmt, staticcheck, errorlint, misspell, the non-Linux
# builds) comes first: a finding fails make test.
test: lint
	$(GO) test -count=1 -timeout 25m ./...
	CGO_ENABLED=1 $(GO) test -race -short -count=1 -timeout 20m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf $(BIN)
