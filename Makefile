# burstd developer entry points. Every target creates the virtualenv it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck imports schema schema-check unit clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

## demo: simulate the bundled policy on the bundled trace and print the three-way comparison
demo: $(STAMP)
	$(BIN)/burstd simulate

## test: everything CI checks: lint, types, layer contracts, schema freshness, tests
test: lint typecheck imports schema-check unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

schema: $(STAMP)
	$(BIN)/burstd policy schema > policies/burstpolicy.schema.json

schema-check: $(STAMP)
	$(BIN)/burstd policy schema | diff -u policies/burstpolicy.schema.json - \
	  || (echo "policies/burstpolicy.schema.json is stale: run 'make schema'" >&2; exit 1)

unit: $(STAMP)
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
