# Kinfolk: `make run` serves the CRM with demo data; `make test` runs every check.
PYTHON ?= python3
VENV   ?= .venv
PORT   ?= 8000
HOST   ?= 127.0.0.1
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

AXE_VERSION := 4.14.1
AXE_JS      := var/tools/axe-core-$(AXE_VERSION)/axe.min.js
CHROMIUM    ?= /usr/bin/chromium

.PHONY: setup run test test-tools lint fmt check pytest clean bench bench-smoke bench-report

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Kinfolk needs Python 3.11 or newer; found " + sys.version.split()[0]'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,bench]'
	@touch $(STAMP)

setup: $(STAMP)

## make run: set up, create the SQLite database, load the demo on first run, serve on $(HOST):$(PORT)
run: setup
	KINFOLK_DEBUG=$${KINFOLK_DEBUG:-1} $(BIN)/kinfolk run --host $(HOST) --port $(PORT) --demo-on-first-run

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

fmt: setup
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

check: setup
	KINFOLK_HOME=var/test $(BIN)/kinfolk manage check --fail-level WARNING
	KINFOLK_HOME=var/test KINFOLK_DEBUG=0 KINFOLK_SECRET_KEY= $(BIN)/kinfolk manage check --deploy --fail-level WARNING
	KINFOLK_HOME=var/test $(BIN)/kinfolk manage makemigrations --check --dry-run

## make test-tools: what the browser tests need: Debian's Chromium (apt) and axe-core (npm registry, pinned)
test-tools: $(AXE_JS)
	@test -x $(CHROMIUM) || { echo "Installing Chromium for the browser tests (apt-get install -y chromium)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

$(AXE_JS):
	mkdir -p var/tools
	cd var/tools && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null && tar xzf axe-core-$(AXE_VERSION).tgz \
		&& rm -rf axe-core-$(AXE_VERSION) && mv package axe-core-$(AXE_VERSION) && rm axe-core-$(AXE_VERSION).tgz

## make bench: the benchmark suite (docs/benchmarks.md), e.g. `make bench ONLY=import,search SCALE=10k,100k DB=both REPEAT=3`
ONLY   ?= import,dedupe,check,search,web,api
SCALE  ?= 10k
DB     ?= sqlite
REPEAT ?= 3
PEERS  ?= 0
bench: setup
	@if [ "$(PEERS)" = 1 ]; then bash bench/setup_peers.sh; fi
	@case ",$(ONLY)," in *,api,*) command -v wrk >/dev/null || { echo "Installing wrk, the API benchmark's load generator (apt-get install -y wrk)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 || echo "No wrk: the API benchmark uses its Python load generator"; };; esac
	BENCH_COMMAND="make bench ONLY=$(ONLY) SCALE=$(SCALE) DB=$(DB) REPEAT=$(REPEAT) PEERS=$(PEERS)" \
		$(BIN)/python -m bench --only $(ONLY) --scale $(SCALE) --db $(DB) --repeat $(REPEAT) \
		$$( [ "$(PEERS)" = 1 ] && echo --peers || echo --no-peers )

## make bench-smoke: every part once at 2,000 people on SQLite, in a temporary folder (a check that the suite runs)
bench-smoke: setup
	@tmp=$$(mktemp -d); \
	$(BIN)/python -m bench --smoke --scale 2k --db sqlite --repeat 1 --no-peers --out $$tmp --data $$tmp/data; \
	rc=$$?; rm -rf $$tmp; exit $$rc

## make bench-report: docs/benchmarks.md's generated section and docs/img/bench-scaling.svg from bench/results/
bench-report: setup
	$(BIN)/python -m bench.report

## make test: lint, Django checks, migrations check, the suite on SQLite and (if KINFOLK_TEST_DATABASE_URL) PostgreSQL
test: lint check test-tools bench-smoke
	KINFOLK_HOME=var/test KINFOLK_DATABASE_URL= $(BIN)/pytest -n 2 $(PYTEST_ARGS)
	@if [ -n "$$KINFOLK_TEST_DATABASE_URL" ]; then \
		echo "== the suite again on $$KINFOLK_TEST_DATABASE_URL"; \
		KINFOLK_HOME=var/test KINFOLK_DATABASE_URL="$$KINFOLK_TEST_DATABASE_URL" $(BIN)/pytest -n 2 $(PYTEST_ARGS); \
	fi

clean:
	rm -rf $(VENV) var/test .pytest_cache .ruff_cache
