.DEFAULT_GOAL := help
VENV ?= .venv
BIN := $(VENV)/bin

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/flextype: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q -e '.[test,dev]'
	@touch $@

install: $(BIN)/flextype ## create the venv and install the package with test and dev extras

lint: install ## ruff, ruff format --check, mypy --strict, import-linter
	$(BIN)/ruff check
	$(BIN)/ruff format --check
	$(BIN)/python -m tests.typecheck
	$(BIN)/lint-imports

test: install ## the whole test suite (it runs the linters too)
	$(BIN)/python -m pytest

check: lint test ## both

.PHONY: help install lint test check
