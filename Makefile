# opsloop — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.opsloop-installed
TSTAMP := $(VENV)/.opsloop-test-installed

.PHONY: run test lint pytest vitest bench clean help

help:
	@echo "make run   - set up .venv and start the demo bank on http://127.0.0.1:8000"
	@echo "make test  - set up .venv with test extras; run ruff, mypy and pytest"
	@echo "make bench - run the benchmarks (prints JSON)"

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "opsloop needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TSTAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	command -v chromium >/dev/null && fc-list :lang=zh | grep -q . || (apt-get update && apt-get install -y chromium fonts-wqy-microhei)
	touch $@

run: $(STAMP)
	$(BIN)/opsloop demo

lint: $(TSTAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# pytest exits 5 when it collected no test: that is a failure, said plainly.
pytest: $(TSTAMP)
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# The console's component tests need Node.js; without npm they are skipped, said plainly.
vitest:
	@if command -v npm >/dev/null; then \
	  cd console && (test -d node_modules || npm install --no-audit --no-fund --no-save) && npm test; \
	else echo "npm not found: SKIPPING the console's Vitest tests (console/)"; fi

test: lint vitest pytest

bench: $(STAMP)
	$(BIN)/python -m bench all

clean:
	rm -rf $(VENV) .opsloop .pytest_cache .mypy_cache .ruff_cache
