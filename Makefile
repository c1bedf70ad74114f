# The two quick-start commands: `make demo` and `make test`. Each sets up .venv/ on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint install

$(BIN)/gateway: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/gateway

install: $(BIN)/gateway

demo: $(BIN)/gateway
	$(BIN)/gateway demo

test: $(BIN)/gateway
	$(BIN)/ruff check gateway tests examples wsgi.py
	$(BIN)/pytest -q

lint: $(BIN)/gateway
	$(BIN)/ruff check gateway tests examples wsgi.py
	$(BIN)/ruff format --check gateway tests examples wsgi.py
