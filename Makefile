# wgmesh — `make demo` and `make test` are the two commands a new machine needs.
SHELL := /bin/bash
export TSX_TSCONFIG_PATH := $(CURDIR)/tsconfig.test.json

.PHONY: deps build proto lint test test-unit test-sim test-e2e test-fuzz test-ui test-l2 demo bench clean

deps:
	@scripts/install-deps.sh

build: deps
	@pnpm -s run build

proto: deps
	cd packages/agent && node_modules/.bin/proto-loader-gen-types --grpcLib=@grpc/grpc-js \
	  --importFileExtension=.js --longs=Number --enums=String --defaults --oneofs --keepCase=false \
	  --includeDirs=../../proto --outDir=src/proto/gen wgmesh/v1/mesh.proto wgmesh/v1/agent.proto
	cd packages/agent && node scripts/proto-descriptor.mjs

lint: deps
	@pnpm -s run lint

# Every test: unit tests of each package, the in-process simulations, then real WireGuard in namespaces.
# Patterns are quoted: run-tests.sh expands them with globstar. Expanded by make's shell, ** matched
# one directory level only, and the test files directly in a package's test/ never ran.
test: build lint
	@scripts/run-tests.sh 'test/*.spec.ts' 'packages/*/test/**/*.test.ts' 'packages/*/test/**/*.test.tsx' 'test/sim/*.test.ts' 'test/e2e/*.test.ts'

# test/*.spec.ts: checks of the whole workspace's source (test/deps.spec.ts: imports point one way).
test-unit: build
	@scripts/run-tests.sh 'test/*.spec.ts' 'packages/*/test/**/*.test.ts' 'packages/*/test/**/*.test.tsx'

test-sim: build
	@scripts/run-tests.sh 'test/sim/*.test.ts'

test-e2e: build
	@scripts/run-tests.sh 'test/e2e/*.test.ts'

# Layer 2 over the mesh alone (bootstrap -l2: pings, broadcasts, DHCP and a leave in a 4-host lab).
test-l2: build
	@scripts/run-tests.sh test/e2e/l2.test.ts

# The fuzz test of both gRPC services alone (also in test-e2e); WGMESH_FUZZ_SEED=N, WGMESH_FUZZ_COUNT=N.
test-fuzz: build
	@scripts/run-tests.sh test/e2e/fuzz.test.ts

# `wgmesh ui` in Debian's chromium (also in test-e2e): a 3-node lab, and the page at 1,000 nodes.
test-ui: build
	@scripts/run-tests.sh test/e2e/ui.test.ts

demo: build
	@scripts/demo.sh

# Figures, not tests: writes bench/results.md (date, machine, control plane, data plane, relay,
# start-up beside Nebula).
bench: build
	@scripts/bench.sh

clean:
	rm -rf packages/*/dist
