# Only python3 and make are assumed. Every target creates .venv if it is
# missing and installs the project into it (editable, with the test extras).
# The install is redone only when pyproject.toml changes: with an editable
# install, changes to the code need no reinstall.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Extra pytest arguments: make test PYTEST_ARGS='-x -k wire'
PYTEST_ARGS ?=

.PHONY: venv demo lint browser test

venv: $(VENV)/.installed

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: venv
	$(BIN)/dispatcher demo

# What pyproject.toml promises about the code, checked on every test run (CI included).
lint: venv
	$(BIN)/ruff check dispatcher tests bench
	$(BIN)/ruff format --check dispatcher tests bench
	$(BIN)/mypy --strict

# The admin UI's browser tests drive Debian's chromium (Playwright's own download cannot run here).
browser:
	@command -v chromium >/dev/null || { echo "installing Debian's chromium for the browser tests" >&2; \
	  apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }; }

# pytest exits 5 when it collects no tests; say so instead of a bare "Error 5".
test: lint browser
	@$(BIN)/pytest $(PYTEST_ARGS) || { status=$$?; \
	  if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests (exit 5)" >&2; fi; \
	  exit $$status; }
