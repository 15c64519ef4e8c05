# Two commands do all the set-up: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(abspath $(VENV))/bin
# nbgrader runs alembic as a subprocess: the venv's bin must be on PATH.
RUN    := PATH="$(BIN):$$PATH"
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check

# JupyterHub's proxy for `make hub` (and its tests), from npm, into .node/ (git-ignored)
CHP_VERSION := 4.6.3
CHP    := .node/node_modules/.bin/configurable-http-proxy
PORT   ?= 8000

.PHONY: demo hub lab lint test install install-test system-packages demo-packages clean

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) -e '.[test]'
	@touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test system-packages $(CHP)

$(CHP): | system-packages
	npm install --prefix .node --no-audit --no-fund --loglevel=error configurable-http-proxy@$(CHP_VERSION)

system-packages:
	@bash scripts/install-system-packages.sh

# what the demo needs of Debian: bubblewrap (grading) and tesseract (text in pixels)
demo-packages:
	@bash scripts/install-system-packages.sh demo

demo: install demo-packages
	rm -rf demo-output
	$(RUN) hipaa-lab demo --out demo-output

# one person on this computer; for a class, `make hub`
lab: install
	$(RUN) hipaa-lab lab --course-dir course

# a class: JupyterHub with an account per employee of ROSTER; run as root
hub: install system-packages $(CHP)
	@test -n "$(ROSTER)" -a -n "$(TRAINER)" || { echo "usage: sudo make hub ROSTER=staff.csv TRAINER=account [PORT=8000]" >&2; exit 2; }
	$(RUN) hipaa-lab hub start --hub-dir hub --roster "$(ROSTER)" --trainer "$(TRAINER)" --port $(PORT)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# lint first: a lint or type finding fails the tests
test: install-test lint
	$(RUN) python -m pytest

clean:
	rm -rf $(VENV) .node course demo-output test-artifacts
