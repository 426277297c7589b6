# The shop: `make run` brings the whole system up on this machine (no Docker
# needed), `make test` runs every test against real Postgres, Kafka, Kafka
# Connect and Debezium. See README.md.

SHELL      := /bin/bash
BIN        := $(CURDIR)/.bin
export PATH := $(BIN):$(PATH)

STATICCHECK_VERSION := v0.8.2
SWAG_VERSION        := v1.16.6
PROMTOOL_VERSION    := v0.316.0
BUF_VERSION         := v1.75.0

.PHONY: stack run infra test test-go check-generated check-alerts check-compat lint tools proto swagger bench bench-drain bench-telemetry bench-streams clean fetch faults fuzz fuzz-tools k8s-tools crds check-k8s

# The stack's own launcher, rebuilt every time (go's build cache makes that cheap).
stack:
	@go build -o $(BIN)/stack ./stack/cmd/stack

## run: Postgres, Kafka, Kafka Connect + Debezium, the connectors and the three services; Ctrl-C stops all
run: stack
	@$(BIN)/stack run

## infra: the same without the services
infra: stack
	@$(BIN)/stack infra

## fetch: download the Kafka and Debezium jars into the cache (make run does it too)
fetch: stack
	@$(BIN)/stack fetch

## test: generated code is fresh, lint is clean, proto/ is compatible with the baseline, then every test against one shared throwaway stack
test: tools fuzz-tools k8s-tools check-generated lint check-alerts check-compat stack
	$(BIN)/stack test-env -- $(MAKE) --no-print-directory test-go

test-go:
	go test -race -count=1 -p 2 -timeout 40m shop/...

## check-alerts: the Prometheus alerting rules are valid and their unit tests pass (monitoring/)
check-alerts: $(BIN)/promtool
	promtool check rules monitoring/alerts.yml
	promtool test rules monitoring/alerts_test.yml

## check-compat: proto/ stays wire- and JSON-compatible with the release in production (compat/BASELINE; docs/upgrades.md)
check-compat: $(BIN)/buf
	go run ./compat/cmd/checkcompat -buf $(BIN)/buf

## k8s-tools: etcd, kube-apiserver and kubectl for the manifest check (deploy/k8s), built from the Go module proxy at
## pinned versions into the cache (6 to 35 minutes by load, once per machine), and the operators' CRDs generated there
k8s-tools:
	go run ./deploy/k8s/cmd/k8stools tools

## crds: regenerate deploy/k8s/crds from the operators' pinned API definitions (make test fails when they are stale)
crds:
	go run ./deploy/k8s/cmd/k8stools crds

## check-k8s: the manifest checks alone (make test runs them among the Go tests): CRDs fresh, every overlay accepted by a real API server, broken manifests refused, the cross-checks
check-k8s: k8s-tools
	go test -count=1 -v shop/deploy/k8s/...

## lint: gofmt, go vet, staticcheck
lint: tools
	@out=$$(find . -name "*.go" -not -path "./.*" | xargs gofmt -l); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet shop/...
	staticcheck shop/...

## check-generated: fail when the committed protobuf or Swagger code is stale
check-generated: tools
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	cp -r proto gateway/docs $$tmp/; \
	$(MAKE) --no-print-directory proto swagger >/dev/null; \
	if ! diff -r $$tmp/proto proto >/dev/null || ! diff -r $$tmp/docs gateway/docs >/dev/null; then \
		echo "generated code is stale: run 'make proto swagger' and commit the result"; \
		git --no-pager diff --stat -- proto gateway/docs; exit 1; \
	fi; echo "generated code is fresh"

## proto: regenerate the gRPC and event code from proto/
proto: tools
	cd proto && protoc -I . --go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative \
		orders/v1/orders.proto payments/v1/payments.proto

## swagger: regenerate the OpenAPI document from the gateway's annotations
swagger: tools
	SWAG=$(BIN)/swag gateway/swagger.sh

## tools: the pinned code generators and linters (into .bin), protoc from the system
tools: $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc $(BIN)/staticcheck $(BIN)/swag
	@command -v protoc >/dev/null || { echo "protoc is missing: apt-get install protobuf-compiler"; exit 1; }

$(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc: proto/go.mod
	cd proto && go build -o $(BIN)/ google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc

$(BIN)/staticcheck:
	GOBIN=$(BIN) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(BIN)/promtool:
	@echo "building promtool $(PROMTOOL_VERSION) (a few minutes, once)"
	GOBIN=$(BIN) go install github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_VERSION)

$(BIN)/buf:
	@echo "building the Buf CLI $(BUF_VERSION) (a few minutes, once)"
	GOBIN=$(BIN) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)

$(BIN)/swag:
	GOBIN=$(BIN) go install github.com/swaggo/swag/cmd/swag@$(SWAG_VERSION)

## faults: the fault matrix alone, longer and heavier than in make test, on a stack of its own
## (FAULTS_RATE orders/s, FAULTS_STEP per fault, FAULTS_HANG, FAULTS_USERS, FAULTS_ONLY="kill -9 kafka,...")
faults:
	FAULTS_RATE=$${FAULTS_RATE:-300} FAULTS_STEP=$${FAULTS_STEP:-60s} \
		go test -count=1 -timeout 60m -run TestFaultMatrix ./systemtest/faults/ -v

## fuzz-tools: the API fuzzer, schemathesis pinned in .ci/fuzz-requirements.txt, into .bin/fuzz-venv (needs python3-venv)
fuzz-tools:
	@.ci/fuzz-venv.sh

## fuzz: the API fuzzer alone (systemtest TestFuzzAPI: every operation of the OpenAPI document, header and jwt mode)
fuzz: fuzz-tools stack
	$(BIN)/stack test-env -- go test -count=1 -timeout 20m -run TestFuzzAPI -v ./systemtest/

## bench: end-to-end load test through the gateway beside pgbench's ceiling, CPU per component (see docs/performance.md)
bench:
	go run ./bench/cmd/loadgen $(BENCH_FLAGS)

## bench-telemetry: make bench's 200/s and 500/s figures with telemetry on and off, alternating (bench/telemetry-ab.sh)
bench-telemetry:
	bash bench/telemetry-ab.sh

## bench-drain: how fast one Debezium connector task drains a backlog of outbox rows (docs/scaling.md)
bench-drain:
	go run ./bench/cmd/drain $(DRAIN_FLAGS)

## bench-streams: the order status stream under load: change-to-SSE-read latency, memory per open stream (see bench/STREAMS.md)
bench-streams:
	go run ./bench/cmd/streambench $(STREAMBENCH_FLAGS)

## clean: remove the local data (Postgres, Kafka, Connect) and built binaries; the jar cache stays
clean:
	rm -rf .data .bin
