# netburst: build, run and test. CGO is off: one static binary per command.
GO        ?= go
BIN       ?= bin
GOFLAGS_B := -trimpath
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
# own network namespaces) and skip with a message otherwise.
test:
	$(GO) vet ./...
	test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"
	$(GO) test -count=1 -timeout 25m ./...
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 10m -run 'Race' ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf $(BIN)
