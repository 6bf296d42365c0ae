# Freehold: `make dev` runs the whole platform, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
export FLASK_APP := wsgi

.PHONY: dev test lint bench clean-venv

$(VENV)/.python-ok:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Freehold needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.python-ok pyproject.toml requirements.lock
	$(BIN)/pip install --quiet -c requirements.lock -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed-dev
	$(BIN)/pip install --quiet -c requirements.lock -e '.[test]'
	@touch $@

dev: $(VENV)/.installed-dev
	$(BIN)/flask db upgrade
	$(BIN)/flask seed demo
	@echo "Freehold on http://127.0.0.1:$(PORT)  (portal /, console /admin/, API /api/v1/) - Ctrl-C stops everything"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho --procfile Procfile start --port $(PORT)

test: $(VENV)/.installed-test
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check app tests bench

bench: $(VENV)/.installed-test
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean-venv:
	rm -rf $(VENV)
