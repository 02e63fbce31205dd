# Developer and CI entry points. `make help` lists them.
#
# Virtualenvs are rebuilt only when pyproject.toml changes (stamp files), so re-runs are fast.

SHELL := /bin/bash

# Interpreters are looked up on this machine (pyenv, PATH, uv: .ci/find-python.sh), never at a
# fixed path. Override with e.g. `make venv PYTHON=/usr/bin/python3.11`.
PYTHON ?= $(or $(shell .ci/find-python.sh 3.11 2>/dev/null),python3)
PYTHON312 ?= $(or $(shell .ci/find-python.sh 3.12 2>/dev/null),python3.12)
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

.PHONY: help venv test test-browser lint demo test-postgres test-mariadb test-py312-django61 matrix fuzz test-load docs bench dist test-wheel clean messages

help:
	@echo "make demo                 run the example project on 127.0.0.1:$(PORT)"
	@echo "make test                 run the tests on SQLite (extra args: PYTEST_ARGS='-k name')"
	@echo "make lint                 ruff check, ruff format --check, mypy"
	@echo "make test-browser         the real-browser admin test (installs Debian's chromium)"
	@echo "make test-postgres        run the tests on PostgreSQL (127.0.0.1:5432)"
	@echo "make test-mariadb         run the tests on MariaDB (127.0.0.1:3306)"
	@echo "make test-py312-django61  run the tests on Python 3.12 with Django 6.1"
	@echo "make matrix               the Python x Django x DRF x database matrix (nox; NOX_ARGS='-s NAME')"
	@echo "make test-load            gunicorn + client processes on PostgreSQL, MariaDB, SQLite; isolation matrix"
	@echo "make fuzz                 the fuzz tests with 20,000 examples each (HYPOTHESIS_PROFILE=fuzz)"
	@echo "make docs                 build the docs with mkdocs --strict"
	@echo "make messages             update the fr/de catalogs (makemessages) and compile them"
	@echo "make bench                benchmarks, SQLite + PostgreSQL (BENCH_ARGS='--quick' or '--write-docs')"
	@echo "make dist                 build the sdist and wheel into dist/ and run twine check"
	@echo "make test-wheel           install the built wheel in a fresh virtualenv and run a smoke project"
	@echo "make clean                remove virtualenvs, caches and build output"

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e . --group test --group lint
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

demo: venv
	cd example_project && \
	  ../$(VENV)/bin/python manage.py migrate --skip-checks && \
	  ../$(VENV)/bin/python manage.py load_demo_data --base-url http://127.0.0.1:$(PORT) && \
	  ../$(VENV)/bin/python manage.py runserver 127.0.0.1:$(PORT)

# The other databases and versions leave the browser and Schemathesis tests (the latter
# always runs on SQLite) to `make test`.
SECONDARY := -m "not browser and not schemathesis"

test-postgres: venv
	.ci/services.sh postgres
	DATABASE_URL=$(POSTGRES_URL) $(call run_pytest,$(VENV)/bin/python,$(SECONDARY))

$(VENV)/.mysqlclient.stamp: $(STAMP)
	.ci/system-packages.sh libmariadb-dev pkg-config
	$(VENV)/bin/python -m pip install --quiet --group mysql
	touch $@

test-mariadb: venv $(VENV)/.mysqlclient.stamp
	.ci/services.sh mariadb
	DATABASE_URL=$(MARIADB_URL) $(call run_pytest,$(VENV)/bin/python,$(SECONDARY))

$(STAMP312): pyproject.toml
	test -x $(VENV312)/bin/python || $(PYTHON312) -m venv $(VENV312)
	$(VENV312)/bin/python -m pip install --quiet --upgrade pip
	$(VENV312)/bin/python -m pip install --quiet -e . --group test 'Django>=6.1,<6.2'
	touch $@

test-py312-django61: $(STAMP312)
	env -u DATABASE_URL $(call run_pytest,$(VENV312)/bin/python,$(SECONDARY))

NOX_ARGS ?=

$(VENV)/.nox.stamp: $(STAMP)
	$(VENV)/bin/python -m pip install --quiet --group matrix
	touch $@

# The Python x Django x DRF x database combinations are the sessions of noxfile.py.
matrix: $(VENV)/.nox.stamp
	$(VENV)/bin/nox --no-color $(NOX_ARGS)

LOAD_SQLITE_URL ?= sqlite:///$(CURDIR)/example_project/.load.sqlite3
LOAD_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/preconditions_load
LOAD_MARIADB_URL ?= mysql://root@127.0.0.1:3306/preconditions_load

# The multi-process proof (tests/test_load.py) and the isolation matrix
# (tests/test_isolation_matrix.py) against each database, summary lines printed.
LOAD_POSTGRES_DB = $(lastword $(subst /, ,$(LOAD_POSTGRES_URL)))
LOAD_MARIADB_DB = $(lastword $(subst /, ,$(LOAD_MARIADB_URL)))
LOAD_SQLITE_FILE = $(patsubst sqlite:///%,%,$(LOAD_SQLITE_URL))

test-load: venv $(VENV)/.mysqlclient.stamp
	.ci/services.sh
	psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $(LOAD_POSTGRES_DB)" \
	  -c "CREATE DATABASE $(LOAD_POSTGRES_DB)"
	mariadb -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS $(LOAD_MARIADB_DB); \
	  CREATE DATABASE $(LOAD_MARIADB_DB) CHARACTER SET utf8mb4"
	rm -f $(LOAD_SQLITE_FILE)*
	for url in $(LOAD_POSTGRES_URL) $(LOAD_MARIADB_URL) $(LOAD_SQLITE_URL); do \
	  LOAD_DATABASE_URL=$$url $(VENV)/bin/python -m pytest -q -s -p no:cacheprovider -m load \
	    tests/test_load.py tests/test_rules_propagation.py tests/test_isolation_matrix.py \
	    $(PYTEST_ARGS) || exit $$?; \
	done

fuzz: venv
	env -u DATABASE_URL HYPOTHESIS_PROFILE=fuzz $(VENV)/bin/python -m pytest -q tests/test_fuzz.py tests/test_headers.py tests/test_conditions.py $(PYTEST_ARGS)

# Translation catalogs (django_preconditions/locale): extract every marked string into the
# French and German .po files (new ones arrive untranslated, vanished ones are dropped), then
# compile the .mo files that the wheel ships. tests/test_locale.py fails while any msgid is
# untranslated or a catalog is stale. Needs Debian's gettext (installed here when missing).
LOCALES := fr de
MAKEMESSAGES_ARGS := --no-obsolete --add-location file --extension py,html,txt

messages: venv
	.ci/system-packages.sh gettext
	cd django_preconditions && ../$(VENV)/bin/django-admin makemessages \
	  $(addprefix --locale ,$(LOCALES)) $(MAKEMESSAGES_ARGS)
	cd django_preconditions && ../$(VENV)/bin/django-admin compilemessages $(addprefix --locale ,$(LOCALES))
	@for locale in $(LOCALES); do \
	  po=django_preconditions/locale/$$locale/LC_MESSAGES/django.po; \
	  echo -n "$$po: "; msgfmt --statistics -o /dev/null $$po; \
	done

$(VENV)/.docs.stamp: $(STAMP)
	$(VENV)/bin/python -m pip install --quiet --group docs
	touch $@

docs: $(VENV)/.docs.stamp
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

$(VENV)/.bench.stamp: $(STAMP)
	$(VENV)/bin/python -m pip install --quiet --group bench
	touch $@

# SQLite and PostgreSQL in process, then PostgreSQL over HTTP (gunicorn); a database that does
# not answer is skipped with a message.
bench: $(VENV)/.bench.stamp
	.ci/services.sh postgres || echo "PostgreSQL unavailable: its benchmarks are skipped."
	$(VENV)/bin/python benchmarks/run.py $(BENCH_ARGS)

$(VENV)/.dist.stamp: $(STAMP)
	$(VENV)/bin/python -m pip install --quiet --group dist
	touch $@

# The sdist and the wheel, checked by twine (metadata, README rendering).
dist: $(VENV)/.dist.stamp
	rm -rf dist build
	$(VENV)/bin/python -m build --outdir dist .
	$(VENV)/bin/twine check --strict dist/*

# The built wheel (not this checkout) in a fresh virtualenv: its contents, then a smoke project.
test-wheel: dist
	$(VENV)/bin/python .ci/wheel_smoke.py --python $(PYTHON) dist/*.whl

clean:
	rm -rf $(VENV) $(VENV312) .venv-matrix .nox build dist site *.egg-info htmlcov .coverage .coverage.* \
	  .pytest_cache .mypy_cache .ruff_cache tests/.test-db.sqlite3 tests/test.sqlite3
	find . -name __pycache__ -type d -not -path './.git/*' -prune -exec rm -rf {} +
