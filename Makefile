# depot — `make run` and `make test` do all the set-up on a fresh Debian 12 machine
# with the Swift toolchain: missing Debian packages are installed with apt-get.

SWIFT      ?= swift
DEMO       ?= $(CURDIR)/demo
DEB_BUILD  := libsqlite3-dev libssl-dev libcurl4-openssl-dev pkg-config libpoppler-glib-dev libcairo2-dev libzip-dev libxml2-dev
# Tests also use: sqlite3 (inspecting catalogs), systemd (systemd-analyze security), qpdf (encrypted PDFs), python3 (DOCX/PPTX fixtures), fonts-dejavu-core (text in test PDFs), python3-jsonschema (artifact schemas).
DEB_TEST   := sqlite3 systemd qpdf python3 fonts-dejavu-core python3-jsonschema prometheus python3-pip
BIN        := .build/release/depot

.PHONY: all build run test deps test-deps demo clean bench

all: build

deps:
	@./scripts/apt-ensure.sh $(DEB_BUILD)

test-deps: deps
	@./scripts/apt-ensure.sh $(DEB_TEST)
	@# The HTTP tests check the OpenAPI document and fuzz the API (PyPI; Debian 12's pip needs
	@# --break-system-packages to install outside a venv).
	@python3 -c 'import openapi_spec_validator, schemathesis' 2>/dev/null || \
	  pip install -q --break-system-packages openapi-spec-validator schemathesis
	@# Password-protected Office files for the type detection tests, encrypted as Office does.
	@# (Debian's python3, which the tests run, whatever python3 comes first on PATH.)
	@/usr/bin/python3 -c 'import msoffcrypto' 2>/dev/null || \
	  /usr/bin/python3 -m pip install -q --break-system-packages msoffcrypto-tool

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
