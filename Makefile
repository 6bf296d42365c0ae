# Freehold: `make dev` runs the whole platform, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
# the suite's processes (pytest-xdist; each its own database): TEST_WORKERS=0 runs it in this one, serially
TEST_WORKERS ?= 2
export FLASK_APP := wsgi

.PHONY: dev test lint lock bench translations clean-venv

$(VENV)/.python-ok:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Freehold needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@touch $@

# Every package, with its hash, from the lock (pip-compile from pyproject.toml: `make lock`); then the project itself.
$(VENV)/.installed: $(VENV)/.python-ok pyproject.toml requirements.lock
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@

dev: $(VENV)/.installed
	$(BIN)/flask db upgrade
	$(BIN)/flask seed demo
	@echo "Freehold on http://127.0.0.1:$(PORT)  (portal /, console /admin/, API /api/v1/) - Ctrl-C stops everything"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho --procfile Procfile start --port $(PORT)

test: $(VENV)/.installed
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# ruff (style, bugs, security, datetimes), mypy (strict on app/core and app/ledger), the import-layer contract
lint: $(VENV)/.installed
	$(BIN)/ruff check app tests bench migrations
	$(BIN)/mypy
	$(BIN)/lint-imports

# the lock file with hashes, from pyproject.toml (run after changing a dependency)
lock: $(VENV)/.installed
	$(BIN)/pip-compile --quiet --generate-hashes --all-extras --strip-extras --allow-unsafe \
		--no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

# Every message of the templates and app/ into app/translations/messages.pot (not kept in git), merged into each
# language's catalogue: a helper to see what is new. Review the .po's diff: update rewrites its order and references
# (docs/languages.md). The app compiles the .mo files itself when it starts.
translations: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k N_ -o app/translations/messages.pot .
	$(BIN)/pybabel update --no-fuzzy-matching -i app/translations/messages.pot -d app/translations

bench: $(VENV)/.installed
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean-venv:
	rm -rf $(VENV)
