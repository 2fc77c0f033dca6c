# The two commands: `make run` and `make test`. Both bootstrap what they need and skip
# what is already done: the stamps below are rebuilt only when their inputs change.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY_STAMP  := $(VENV)/.installed
NPM_STAMP := $(if $(wildcard package.json),node_modules/.installed)
# The real graphite-web, in its own venv, for the compatibility tests only.
GRAPHITE_VENV  := .venv-graphite
GRAPHITE_STAMP := $(GRAPHITE_VENV)/.installed
DATA_DIR ?= var
# The browser tests drive Debian's Chromium; installed when missing (root, or sudo).
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: setup run test lint typecheck pytest bench clean

setup: $(PY_STAMP) $(NPM_STAMP)

$(PY_STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

$(GRAPHITE_STAMP): tests/graphite-web-requirements.txt
	test -x $(GRAPHITE_VENV)/bin/python || $(PYTHON) -m venv $(GRAPHITE_VENV)
	GRAPHITE_NO_PREFIX=True $(GRAPHITE_VENV)/bin/python -m pip install --quiet \
		--disable-pip-version-check -r tests/graphite-web-requirements.txt
	touch $@

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --omit=optional
	mkdir -p monitor/web/static/vendor
	cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css \
		monitor/web/static/vendor/
	touch $@

# `make run ARGS="--set http.port=9090"` passes arguments to `monitor up`.
ARGS ?=

run: setup
	$(BIN)/monitor up --demo --data-dir $(DATA_DIR) $(ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/monitor dashboards check dashboards

typecheck: setup
	$(BIN)/mypy

pytest: setup $(GRAPHITE_STAMP) $(CHROMIUM)
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
	rm -rf $(VENV) $(GRAPHITE_VENV) node_modules .mypy_cache .ruff_cache .pytest_cache
