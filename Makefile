# callbackd: build and test.
#
#   make test    the whole test suite with the race detector, the store
#                tests included against a private MariaDB that
#                scripts/mariadb-test.sh installs if needed, starts and
#                removes afterwards
#   make bench   the store benchmarks (claims/s) on SQLite and MariaDB
#   make vet     go vet

GO ?= go
BENCHTIME ?= 3x

.PHONY: build test bench vet

build:
	$(GO) build ./...

test:
	bash scripts/mariadb-test.sh $(GO) test -race -count=1 ./...

bench:
	bash scripts/mariadb-test.sh $(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./store/...

vet:
	$(GO) vet ./...
