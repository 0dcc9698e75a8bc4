# Nimbus — the two set-up commands are `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# Python 3.13 from pyenv (or PATH); Django 6.1 needs >= 3.12, Lambda runs python3.13.
PYTHON313 := $(shell for p in "$$(pyenv root 2>/dev/null)"/versions/3.13*/bin/python3.13 "$$HOME"/.pyenv/versions/3.13*/bin/python3.13 $$(command -v python3.13 2>/dev/null); do [ -x "$$p" ] && { echo "$$p"; break; }; done)

.PHONY: run test lint typecheck pytest rehearsal browser worker package bench load clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found (looked in pyenv and PATH)"; exit 1; }
	@test -x $(PY) || $(PYTHON313) -m venv $(VENV)
	set -o pipefail; $(PY) -m pip install --quiet --upgrade pip 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	set -o pipefail; $(PY) -m pip install --quiet -r requirements-dev.txt 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	@touch $@

## make run: install, migrate, create the demo operator, serve :8000 (ASGI) with the worker.
run: $(VENV)/.installed
	$(PY) manage.py devserver

## make test: lint, types, the whole suite on SQLite and, when DATABASE_URL is set, on
## PostgreSQL, then the production rehearsal.
test: $(VENV)/.installed lint typecheck pytest rehearsal

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

pytest: $(VENV)/.installed
	env -u DATABASE_URL $(VENV)/bin/pytest
	@if [ -n "$$DATABASE_URL" ]; then echo "== again on $$DATABASE_URL"; $(VENV)/bin/pytest -m "not sqlite_only"; fi

## make rehearsal: build the Lambda package as `make package` does and run the main job
## through it, tracing on, against the stack on a local moto_server (tests/rehearsal/README.md).
## On PostgreSQL when DATABASE_URL is set, SQLite otherwise.
rehearsal: $(VENV)/.installed
	NIMBUS_REHEARSAL=1 $(VENV)/bin/pytest tests/rehearsal -p no:logging

## make browser: only the real-browser tests (Debian's chromium; screenshots in test-artifacts/).
browser: $(VENV)/.installed
	env -u DATABASE_URL $(VENV)/bin/pytest tests/browser

worker: $(VENV)/.installed
	$(PY) manage.py worker

## make package: the lean Lambda zip (build/nimbus-$(STAGE).zip) built offline; prints its sizes.
STAGE ?= dev
package: $(VENV)/.installed
	$(PY) -m infra.package $(STAGE)

## make bench: `make package`, then package size, cold start, warm latency and throughput
## against bare Django (on stock Zappa, and behind the smallest adapter: the pure floor),
## and a short `make load`; writes bench/results.json (bench/README.md). Some parts only,
## without the package: .venv/bin/python bench/run.py --only local,load
BENCH_ARGS ?=
bench: package
	$(PY) bench/run.py --package build/nimbus-$(STAGE).zip $(BENCH_ARGS)

## make load: Locust people (sign up, upload, live status, download) and SQS batches through
## the Lambda entry, against `make run`'s server and worker on a free 127.0.0.1 port; writes
## bench/load.json (bench/README.md, "Load"). LOAD_ARGS="--users 50 --run-time 120".
LOAD_ARGS ?=
load: $(VENV)/.installed
	$(PY) bench/load.py $(LOAD_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
