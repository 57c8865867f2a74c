# depot — `make run` and `make test` do all the set-up on a fresh Debian 12 machine
# with the Swift toolchain: missing Debian packages are installed with apt-get.

SWIFT      ?= swift
DEMO       ?= $(CURDIR)/demo
# fonts-urw-base35: metric-compatible faces for the 14 standard PDF fonts, which PDFs use without
# embedding them; drawn with another face (DejaVu), words come apart ("O rder") in the text read
# back from a drawn page and in thumbnails.
DEB_BUILD  := libsqlite3-dev libpq-dev libssl-dev libcurl4-openssl-dev pkg-config libpoppler-glib-dev libpoppler-private-dev libcairo2-dev libzip-dev libxml2-dev poppler-data \
              fonts-urw-base35 libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev
# Tests also use: sqlite3 (inspecting catalogs), systemd (systemd-analyze security), qpdf (encrypted PDFs), python3 (DOCX/PPTX fixtures), fonts-dejavu-core (text in test PDFs), python3-jsonschema (artifact schemas).
# PackageTests build and install the Debian package: dpkg-dev (dpkg-shlibdeps), man-db (man -l).
# The upload page is tested in a real browser: chromium and chromium-driver. Media tests make their files with ffmpeg.
DEB_TEST   := sqlite3 systemd qpdf python3 fonts-dejavu-core python3-jsonschema prometheus python3-pip dpkg-dev man-db \
              chromium chromium-driver ffmpeg
# The speech-to-text tests speak their audio with espeak-ng.
DEB_TEST   += espeak-ng
# The catalog contract suites also run on a throw-away PostgreSQL cluster (initdb, pg_ctl).
DEB_TEST   += postgresql
# bench/gc.sh fills its million-version catalog under eatmydata (fsync off for the fixture only).
DEB_TEST   += eatmydata
BIN        := .build/release/depot
# The release binaries (depot, and depot-worker beside it: the processors) link the Swift
# runtime statically, so that what `make install` and `make deb` ship runs without the
# toolchain in /opt/swift.
RELEASE    := -c release --static-swift-stdlib

# `make install`: PREFIX, SYSCONFDIR and DESTDIR as usual; the rest follow from PREFIX (see
# scripts/install.sh). systemd reads units, sysusers.d and tmpfiles.d under /usr/local/lib too.
PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
INSTALL_ENV = DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" BINDIR="$(BINDIR)" SYSCONFDIR="$(SYSCONFDIR)"
DIST       ?= dist

.PHONY: all build run test test-fast deps test-deps demo clean bench install uninstall deb

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
	@# Uploads: a real tus client (tus-py), and Selenium driving Debian's chromium for the upload page.
	@/usr/bin/python3 -c 'import tusclient, selenium' 2>/dev/null || \
	  /usr/bin/python3 -m pip install -q --break-system-packages tuspy selenium
	@# The S3 blob store's tests: moto's standalone S3 server, started by the tests on 127.0.0.1.
	@command -v moto_server >/dev/null 2>&1 || /usr/bin/python3 -c 'import moto.server' 2>/dev/null || \
	  /usr/bin/python3 -m pip install -q --break-system-packages 'moto[server]'
	@# Generation's benchmark peers (bench/generate.sh): NLTK TextTiling, sumy, YAKE, ROUGE, fpdf2 for its PDFs.
	@/usr/bin/python3 -c 'import nltk, sumy, yake, rouge_score, fpdf' 2>/dev/null || \
	  /usr/bin/python3 -m pip install -q --break-system-packages nltk sumy yake rouge-score fpdf2

build: deps
	$(SWIFT) build $(RELEASE) --product depot
	$(SWIFT) build $(RELEASE) --product depot-worker

demo: build
	@test -d $(DEMO)/inbox || $(BIN) init $(DEMO)

run: demo
	@echo "depot: drop files into $(DEMO)/inbox/<collection>/ (e.g. $(DEMO)/inbox/documents/)"
	$(BIN) serve --root $(DEMO)

test: test-deps
	$(SWIFT) build --build-tests
	@# Three test processes, one after another. The in-process HTTP servers (DepotHTTPTests)
	@# answer on Swift's cooperative thread pool, one thread per core; tests elsewhere block
	@# threads of their process's pool (waiting on daemons, subprocesses, files), so beside them
	@# those servers starved: requests stalled for minutes and timing-sensitive checks failed.
	@# The three-node suite runs last and alone: its thousand files keep both cores busy.
	$(SWIFT) test --skip-build --filter DepotHTTPTests
	$(SWIFT) test --skip-build --parallel --num-workers 2 --skip DepotHTTPTests --skip ClusterEndToEndTests
	$(SWIFT) test --skip-build --filter ClusterEndToEndTests

# The fast loop: every test but those tagged .slow (daemons, worker processes, servers, real time).
test-fast: test-deps
	$(SWIFT) build --build-tests
	DEPOT_FAST_TESTS=1 $(SWIFT) test --skip-build --parallel --num-workers 2

bench: build
	bench/ingest.sh

# Installs the binary, the unit, the sysusers and tmpfiles snippets, the config (never over an
# existing one), the docs, the man page and the completions. Installing on this machine as
# root also creates the depot user, lays out /srv/depot and initialises it, as the package's
# postinst does; the unit is left for the admin to enable.
install: build
	@$(INSTALL_ENV) GENERATE_MANUAL="$$(SWIFT=$(SWIFT) scripts/manual-tool.sh)" scripts/install.sh install $(BIN)
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" -eq 0 ]; then \
	  set -e; \
	  systemd-sysusers depot.conf; \
	  systemd-tmpfiles --create depot.conf; \
	  (umask 0027 && runuser -u depot -- $(BINDIR)/depot init --config $(SYSCONFDIR)/depot/depot.toml >/dev/null) || \
	    echo "depot: initialise the root yourself: runuser -u depot -- depot init --config $(SYSCONFDIR)/depot/depot.toml"; \
	  if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi; \
	  echo "depot: installed; start it with: systemctl enable --now depot"; \
	elif [ -z "$(DESTDIR)" ]; then \
	  echo "depot: installed; as root, run: systemd-sysusers depot.conf && systemd-tmpfiles --create depot.conf &&" \
	       "runuser -u depot -- $(BINDIR)/depot init --config $(SYSCONFDIR)/depot/depot.toml"; \
	fi

# Removes what install put there, except the config, the depot user and everything under /srv/depot.
uninstall:
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ] && [ "$$(id -u)" -eq 0 ]; then \
	  systemctl disable --now depot.service 2>/dev/null || true; \
	fi
	@$(INSTALL_ENV) scripts/install.sh uninstall
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ] && [ "$$(id -u)" -eq 0 ]; then systemctl daemon-reload; fi

# The Debian package, dist/depot_<version>_<arch>.deb: the release binary and everything
# install puts beside it, under /usr; its postinst enables and starts depot.service.
deb: build
	@deb="$$(SWIFT=$(SWIFT) GENERATE_MANUAL="$$(SWIFT=$(SWIFT) scripts/manual-tool.sh)" scripts/make-deb.sh $(BIN) $(DIST))"; \
	  echo "$$deb"; \
	  if command -v lintian >/dev/null; then lintian "$$deb" || true; fi

clean:
	rm -rf .build $(DIST)
