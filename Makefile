# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: run test install lint format migrations-check messages clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "CXM needs Python 3.11 or newer (found: $$($(PYTHON) --version 2>&1))."; exit 1; }
	$(PYTHON) -m venv $(VENV)

# xstatic-bootstrap's setup.py still imports pkg_resources, which setuptools 81 removed:
# install a setuptools that has it and build without isolation so that one is used.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "setuptools>=65,<81" wheel
	$(BIN)/python -m pip install --quiet --no-build-isolation -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py rebuild_kpis
	@bin/run-dev

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrations-check: install
	$(BIN)/python manage.py makemigrations --check --dry-run

# Needs GNU gettext (apt-get install gettext); the compiled catalogs are committed so
# `make run` needs nothing but Python.
messages: install
	$(BIN)/python manage.py makemessages --all --ignore=.venv --ignore=staticfiles --ignore=var
	$(BIN)/python bin/fill-english-catalog
	$(BIN)/python manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) var staticfiles
