# The two commands: `make run` and `make test`. Both bootstrap what they need and skip
# what is already done: the stamps below are rebuilt only when their inputs change.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Stamps live outside the directories they describe (npm ci empties node_modules).
STAMPS := .stamps
# What `monitor up` needs: the package and its runtime dependencies, uPlot.
RUN_STAMPS := $(STAMPS)/py-run $(if $(wildcard package.json),$(STAMPS)/npm-run)
# What the tests need besides: the dev extras, the reference daemons and test tools.
DEV_STAMPS := $(STAMPS)/py-dev $(if $(wildcard package.json),$(STAMPS)/npm-dev)
PY_STAMP := $(STAMPS)/py-dev
# The real graphite-web, in its own venv, for the compatibility tests only.
GRAPHITE_VENV  := .venv-graphite
GRAPHITE_STAMP := $(GRAPHITE_VENV)/.installed
DATA_DIR ?= var
# The browser tests drive Debian's Chromium, and the relay tests Debian's
# carbon-c-relay; each is installed when missing (root, or sudo).
CHROMIUM := /usr/bin/chromium
RELAY    := /usr/bin/carbon-c-relay
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt
VENDOR := monitor/web/static/vendor

.PHONY: setup setup-run run test lint typecheck pytest bench clean

setup: $(DEV_STAMPS)
setup-run: $(RUN_STAMPS)

# Runtime only, unless the dev install (a superset) is already there.
$(STAMPS)/py-run: pyproject.toml constraints.txt
	mkdir -p $(STAMPS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	if [ $(STAMPS)/py-dev -nt pyproject.toml ] && [ $(STAMPS)/py-dev -nt constraints.txt ]; \
		then :; else $(PIP) -e .; fi
	touch $@

$(STAMPS)/py-dev: pyproject.toml constraints.txt
	mkdir -p $(STAMPS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[dev]'
	touch $@ $(STAMPS)/py-run

$(GRAPHITE_STAMP): tests/graphite-web-requirements.txt
	test -x $(GRAPHITE_VENV)/bin/python || $(PYTHON) -m venv $(GRAPHITE_VENV)
	GRAPHITE_NO_PREFIX=True $(GRAPHITE_VENV)/bin/python -m pip install --quiet \
		--disable-pip-version-check -r tests/graphite-web-requirements.txt
	touch $@

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

# The package enables a service on port 2003, where `monitor up` listens: the tests
# start the relay themselves, so the service is stopped and disabled where there is one.
$(RELAY):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq carbon-c-relay
	-$(SUDO) systemctl disable --now carbon-c-relay 2>/dev/null

# uPlot only (npm's "dependencies"), unless the full install is already there.
$(STAMPS)/npm-run: package.json package-lock.json
	mkdir -p $(STAMPS) $(VENDOR)
	if [ $(STAMPS)/npm-dev -nt package-lock.json ] && [ $(STAMPS)/npm-dev -nt package.json ]; \
		then :; else npm ci --no-audit --no-fund --omit=optional --omit=dev; fi
	cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css $(VENDOR)/
	touch $@

# Everything: node statsd, frontail and the Etsy suite's tools, for the tests.
$(STAMPS)/npm-dev: package.json package-lock.json
	mkdir -p $(STAMPS) $(VENDOR)
	npm ci --no-audit --no-fund --omit=optional
	cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css $(VENDOR)/
	touch $@ $(STAMPS)/npm-run

# `make run ARGS="--set http.port=9090"` passes arguments to `monitor up`.
ARGS ?=

run: setup-run
	$(BIN)/monitor up --demo --data-dir $(DATA_DIR) $(ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/monitor dashboards check dashboards

typecheck: setup
	$(BIN)/mypy

pytest: setup $(GRAPHITE_STAMP) $(CHROMIUM) $(RELAY)
	$(BIN)/pytest

test: lint typecheck pytest

bench: setup $(GRAPHITE_STAMP)
	$(BIN)/python bench/client_overhead.py
	$(BIN)/python bench/statsd_ingest.py
	$(BIN)/python bench/render.py
	$(BIN)/python bench/carbon_ingest.py
	$(BIN)/python bench/supergrep_stream.py
	$(BIN)/python bench/supergrep_browser.py
	$(BIN)/python bench/up.py

# Regenerate the pinned versions after changing dependencies in pyproject.toml.
constraints: $(PY_STAMP)
	$(BIN)/python -m pip freeze --exclude-editable > constraints.txt

clean:
	rm -rf $(VENV) $(GRAPHITE_VENV) node_modules $(STAMPS) .mypy_cache .ruff_cache .pytest_cache
