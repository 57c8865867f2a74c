# depot — `make run` and `make test` do all the set-up on a fresh Debian 12 machine
# with the Swift toolchain: missing Debian packages are installed with apt-get.

SWIFT      ?= swift
DEMO       ?= $(CURDIR)/demo
DEB_BUILD  := libsqlite3-dev libssl-dev libcurl4-openssl-dev pkg-config
# Tests also use: sqlite3 (inspecting catalogs), systemd (systemd-analyze security).
DEB_TEST   := sqlite3 systemd
BIN        := .build/release/depot

.PHONY: all build run test deps test-deps demo clean bench

all: build

deps:
	@./scripts/apt-ensure.sh $(DEB_BUILD)

test-deps: deps
	@./scripts/apt-ensure.sh $(DEB_TEST)

build: deps
	$(SWIFT) build -c release --product depot

demo: build
	@test -d $(DEMO)/inbox || $(BIN) init $(DEMO)

run: demo
	@echo "depot: drop files into $(DEMO)/inbox/<collection>/ (e.g. $(DEMO)/inbox/documents/)"
	$(BIN) serve --root $(DEMO)

test: test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --parallel --num-workers 2

bench: build
	bench/ingest.sh

clean:
	rm -rf .build
