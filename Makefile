# Developer and CI entry points. `make help` lists them.
#
# Virtualenvs are rebuilt only when pyproject.toml changes (stamp files), so re-runs are fast.

SHELL := /bin/bash

PYTHON ?= $(or $(shell command -v python3.11),python3)
PYTHON312 ?= $(or $(lastword $(sort $(wildcard /root/.pyenv/versions/3.12.*/bin/python3.12))),$(shell command -v python3.12),python3.12)
PORT ?= 8000
PYTEST_ARGS ?=
BENCH_ARGS ?=

VENV := .venv
VENV312 := .venv-py312
STAMP := $(VENV)/.installed.stamp
STAMP312 := $(VENV312)/.installed.stamp

POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/preconditions
MARIADB_URL ?= mysql://root@127.0.0.1:3306/preconditions

# Run pytest with the given interpreter; exit code 5 ("no tests collected") is a failure here.
define run_pytest
$(1) -m pytest $(2) $(PYTEST_ARGS) || { rc=$$?; \
  if [ $$rc -eq 5 ]; then echo "ERROR: pytest collected no tests (exit 5); tests are expected under tests/." >&2; fi; \
  exit $$rc; }
endef

.PHONY: help venv test test-browser lint demo test-postgres test-mariadb test-py312-django61 matrix fuzz test-load docs bench clean

help:
	@echo "make demo                 run the example project on 127.0.0.1:$(PORT)"
	@echo "make test                 run the tests on SQLite (extra args: PYTEST_ARGS='-k name')"
	@echo "make lint                 ruff check, ruff format --check, mypy"
	@echo "make test-browser         the real-browser admin test (installs Debian's chromium)"
	@echo "make test-postgres        run the tests on PostgreSQL (127.0.0.1:5432)"
	@echo "make test-mariadb         run the tests on MariaDB (127.0.0.1:3306)"
	@echo "make test-py312-django61  run the tests on Python 3.12 with Django 6.1"
	@echo "make matrix               the Python x Django x DRF x database matrix (.ci/matrix.sh)"
	@echo "make test-load            gunicorn (4 workers) + 16 client processes on PostgreSQL, MariaDB, SQLite"
	@echo "make fuzz                 the fuzz tests with 20,000 examples each (HYPOTHESIS_PROFILE=fuzz)"
	@echo "make docs                 build the docs with mkdocs --strict"
	@echo "make bench                benchmarks, SQLite + PostgreSQL (BENCH_ARGS='--quick' or '--write-docs')"
	@echo "make clean                remove virtualenvs, caches and build output"

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test,lint]'
	touch $@

test: venv
	env -u DATABASE_URL $(call run_pytest,$(VENV)/bin/python)

test-browser: venv
	.ci/system-packages.sh chromium
	env -u DATABASE_URL CI=true $(VENV)/bin/python -m pytest -m browser -ra $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

demo:
	@if [ -f example_project/manage.py ]; then \
	  $(MAKE) --no-print-directory venv && \
	  cd example_project && \
	  ../$(VENV)/bin/python manage.py migrate --skip-checks && \
	  if ../$(VENV)/bin/python manage.py help load_demo_data >/dev/null 2>&1; then \
	    ../$(VENV)/bin/python manage.py load_demo_data --base-url http://127.0.0.1:$(PORT); \
	  elif [ -n "$$(find . -path '*/fixtures/demo.json' -print -quit)" ]; then \
	    ../$(VENV)/bin/python manage.py loaddata demo; \
	  fi && \
	  ../$(VENV)/bin/python manage.py runserver 127.0.0.1:$(PORT); \
	else \
	  echo "The example project arrives with issue 5"; \
	fi

# The other databases and versions leave the browser tests to `make test`.
SECONDARY := -m "not browser"

test-postgres: venv
	.ci/services.sh postgres
	DATABASE_URL=$(POSTGRES_URL) $(call run_pytest,$(VENV)/bin/python,$(SECONDARY))

$(VENV)/.mysqlclient.stamp: $(STAMP)
	.ci/system-packages.sh libmariadb-dev pkg-config
	$(VENV)/bin/python -m pip install --quiet 'mysqlclient>=2.2.1'
	touch $@

test-mariadb: venv $(VENV)/.mysqlclient.stamp
	.ci/services.sh mariadb
	DATABASE_URL=$(MARIADB_URL) $(call run_pytest,$(VENV)/bin/python,$(SECONDARY))

$(STAMP312): pyproject.toml
	test -x $(VENV312)/bin/python || $(PYTHON312) -m venv $(VENV312)
	$(VENV312)/bin/python -m pip install --quiet --upgrade pip
	$(VENV312)/bin/python -m pip install --quiet -e '.[test]' 'Django>=6.1,<6.2'
	touch $@

test-py312-django61: $(STAMP312)
	env -u DATABASE_URL $(call run_pytest,$(VENV312)/bin/python,$(SECONDARY))

matrix:
	.ci/matrix.sh

LOAD_SQLITE_URL ?= sqlite:///$(CURDIR)/example_project/.load.sqlite3
LOAD_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/preconditions_load
LOAD_MARIADB_URL ?= mysql://root@127.0.0.1:3306/preconditions_load

# The multi-process proof (tests/test_load.py) against each database, summary lines printed.
test-load: venv $(VENV)/.mysqlclient.stamp
	.ci/services.sh
	psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS preconditions_load" \
	  -c "CREATE DATABASE preconditions_load"
	mariadb -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS preconditions_load; \
	  CREATE DATABASE preconditions_load CHARACTER SET utf8mb4"
	rm -f example_project/.load.sqlite3*
	for url in $(LOAD_POSTGRES_URL) $(LOAD_MARIADB_URL) $(LOAD_SQLITE_URL); do \
	  LOAD_DATABASE_URL=$$url $(VENV)/bin/python -m pytest -q -s -p no:cacheprovider -m load \
	    tests/test_load.py tests/test_rules_propagation.py $(PYTEST_ARGS) || exit $$?; \
	done

fuzz: venv
	env -u DATABASE_URL HYPOTHESIS_PROFILE=fuzz $(VENV)/bin/python -m pytest -q tests/test_fuzz.py tests/test_headers.py tests/test_conditions.py $(PYTEST_ARGS)

$(VENV)/.docs.stamp: $(STAMP)
	$(VENV)/bin/python -m pip install --quiet -e '.[docs]'
	touch $@

docs:
	@if [ -f mkdocs.yml ]; then \
	  $(MAKE) --no-print-directory $(VENV)/.docs.stamp && \
	  NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict; \
	else \
	  echo "No mkdocs.yml: nothing to build."; \
	fi

$(VENV)/.bench.stamp: $(STAMP)
	$(VENV)/bin/python -m pip install --quiet -e '.[bench]'
	touch $@

# SQLite and PostgreSQL in process, then PostgreSQL over HTTP (gunicorn); a database that does
# not answer is skipped with a message.
bench:
	@if [ -f benchmarks/run.py ]; then \
	  $(MAKE) --no-print-directory $(VENV)/.bench.stamp && \
	  { .ci/services.sh postgres || echo "PostgreSQL unavailable: its benchmarks are skipped."; } && \
	  $(VENV)/bin/python benchmarks/run.py $(BENCH_ARGS); \
	else \
	  echo "No benchmarks yet (benchmarks/run.py does not exist)."; \
	fi

clean:
	rm -rf $(VENV) $(VENV312) .venv-matrix build dist site *.egg-info htmlcov .coverage .coverage.* \
	  .pytest_cache .mypy_cache .ruff_cache tests/.test-db.sqlite3 tests/test.sqlite3
	find . -name __pycache__ -type d -not -path './.git/*' -prune -exec rm -rf {} +
