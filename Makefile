# Two commands do all the set-up: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(abspath $(VENV))/bin
# nbgrader runs alembic as a subprocess: the venv's bin must be on PATH.
RUN    := PATH="$(BIN):$$PATH"
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: demo lab lint test install install-test system-packages clean

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) -e '.[test]'
	@touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test system-packages

system-packages:
	@bash scripts/install-system-packages.sh

demo: install
	rm -rf demo-output
	$(RUN) hipaa-lab demo --out demo-output

lab: install
	$(RUN) hipaa-lab lab --course-dir course

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# lint first: a lint or type finding fails the tests
test: install-test lint
	$(RUN) python -m pytest

clean:
	rm -rf $(VENV) course demo-output test-artifacts
