# callbackd: build and test.
#
#   make test    every test with the race detector: the store tests against
#                a private MariaDB that scripts/mariadb-test.sh installs if
#                needed, starts on 127.0.0.1 and removes afterwards, the
#                web page in headless Chromium (installed if needed), the
#                .deb (built, installed with dpkg -i, run and removed), the
#                image's command line as uid 65534, the alert rules with
#                Debian's promtool (unpacked from the prometheus package, not
#                installed), then each fuzz target for FUZZTIME executions.
#                Root (or sudo for apt-get) is needed for the installs.
#   make bench   the benchmarks behind the README's figures
#   make bench-peers  callbackd beside ding-dong, panoramisk, River, goqite and
#                the A2Billing and FreePBX callback daemons' dispatch
#                (bench/peers, its own Go module; not part of make test)
#   make test-galera  the store conformance suite, the dispatcher suite and
#                the concurrent-claim and node-kill tests on a private
#                3-node MariaDB Galera cluster (scripts/galera-test.sh)
#   make bench-galera  the Galera claim and dispatch benchmarks
#   make vet     go vet
#   make deb     dist/callbackd_<version>_amd64.deb with nfpm: the binary, the
#                systemd unit, the example configuration, the dialplan
#                samples and the sounds
#   make image   the Docker image (where a Docker engine runs)

GO ?= go
# A count, not a duration: Go 1.26's fuzz coordinator can report a bare
# "context deadline exceeded" when a duration runs out under load
# (golang/go#75804, fixed in Go 1.27); a count has no deadline to race.
FUZZTIME ?= 20000x

# package:FuzzTarget pairs run by make fuzz (and make test).
FUZZ_TARGETS = ./agi:FuzzEnvReader ./agi:FuzzParseReply ./agi:FuzzArgs \
	./ari:FuzzDecodeEvent ./mail:FuzzParse ./mail:FuzzFindCommand \
	./callback:FuzzNormalizeCLI ./httpapi:FuzzDecodeCreate ./httpapi:FuzzDecodeXMLRPC

# The version stamped into the binary and the package: the nearest tag, or
# 0.0.0 before the first, plus the commit.
COMMIT ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
VERSION ?= $(shell t=$$(git describe --tags --abbrev=0 2>/dev/null | sed 's/^v//'); echo $${t:-0.0.0}+git$(COMMIT))
LDFLAGS = -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
NFPM = $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2

.PHONY: build test deps fuzz bench vet deb image test-galera bench-galera

build:
	$(GO) build ./...

# deb first: packaging/deb_test.go installs that package, and building it
# (nfpm's first build included) stays outside the test timeout.
test: deps deb
	bash scripts/mariadb-test.sh $(GO) test -race -count=1 ./...
	$(MAKE) fuzz

# deps installs what the tests drive besides MariaDB: Debian's Chromium for
# the web page's browser test.
deps:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing chromium from Debian's packages for the web page's browser test"; \
		if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name, $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

# Each benchmark runs with the count its README figure was measured with:
# the whole-scenario ones (each iteration is the full workload: 10,000 claims,
# 10,000 dispatches, 5,000 live calls, 5,000 triggers) once, the
# per-operation ones for the README's count or for Go's default second.
BENCH = bash scripts/mariadb-test.sh $(GO) test -run '^$$'
bench:
	$(BENCH) -bench Claims -benchtime 1x ./store/...
	$(BENCH) -bench 'DispatchLatency|ExternalInsertPickup' -benchtime 1x ./callback/
	$(BENCH) -bench 'DispatchToOriginate|MemoryPerLiveCall|Recovery|Burst' -benchtime 1x ./ari/
	$(BENCH) -bench SeveralServers -benchtime 1x -timeout 30m ./ari/
	$(BENCH) -bench Triggers -benchtime 1x ./trigger/
	$(BENCH) -bench Sessions -benchtime 20000x ./agi/
	$(BENCH) -bench CreateRequest -benchtime 20000x ./httpapi/
	$(BENCH) -bench OneAccountManyCalls -benchtime 1x ./ari/callingcard/
	$(BENCH) -bench AdmitOneAccount -benchtime 1x ./billing/
	$(GO) test -run '^$$' -bench 'Rating|Lookup|Quote' ./tariff/ ./billing/

# bench-peers installs the peers (npm, apt-get, Go modules of bench/peers)
# and prints the comparison table; about five minutes.
.PHONY: bench-peers
bench-peers:
	GO=$(GO) bash bench/peers/run.sh

vet:
	$(GO) vet ./...

# test-galera runs on one cluster: the suites, then the test that kills
# node 3 with SIGKILL (CALLBACKD_TEST_GALERA_KILL=1), last.
GALERA_PKGS = ./store/... ./callback/
test-galera:
	bash scripts/galera-test.sh sh -c '$(GO) test -race -count=1 $(GALERA_PKGS) && \
		CALLBACKD_TEST_GALERA_KILL=1 $(GO) test -race -count=1 -run "^TestGaleraNodeKilled$$" -v ./callback/'

bench-galera:
	bash scripts/galera-test.sh sh -c '$(GO) test -run "^$$" -bench GaleraClaims -benchtime 1x ./store/mysql/ && \
		CALLBACKD_BENCH_SPREAD=$${CALLBACKD_BENCH_SPREAD:-1m} $(GO) test -run "^$$" -bench GaleraDispatch -benchtime 1x -timeout 30m ./callback/'

# deb builds the package with nfpm (a Go program, run through the module
# proxy: nothing to install). packaging/deb_test.go installs, starts and
# removes it.
deb:
	mkdir -p dist && rm -f dist/callbackd_*.deb
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="$(LDFLAGS)" -o dist/callbackd ./cmd/callbackd
	VERSION=$(VERSION) $(NFPM) package -f packaging/nfpm.yaml -p deb -t dist/

image:
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t callbackd:$(COMMIT) .
