# burstd developer entry points. Every target creates the virtualenv it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck imports schema schema-check unit testenv integration chaos clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

## demo: simulate the bundled policy on the bundled trace and print the three-way comparison
demo: $(STAMP)
	$(BIN)/burstd simulate

## test: everything CI checks: lint, types, layer contracts, schema freshness, tests (the integration tests
## run against a real kube-apiserver + etcd, built from Go modules into ~/.cache/burstd-testenv on first use)
test: lint typecheck imports schema-check testenv unit

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
	$(BIN)/pytest --durations=30

## testenv: build (once per version) or find kube-apiserver and etcd, and install Prometheus and libfaketime
## (Debian's packages, need root), for the integration, end-to-end and chaos tests
testenv:
	scripts/testenv/ensure.sh
	scripts/testenv/install-prometheus.sh
	scripts/testenv/install-faketime.sh

integration: $(STAMP) testenv
	$(BIN)/pytest tests/integration tests/e2e

## chaos: the chaos suite alone (faults injected by a proxy in front of real API servers, SIGKILL at every
## write boundary, skewed clocks, hostile input files); prints its figures last (docs/reliability.md)
chaos: $(STAMP) testenv
	$(BIN)/pytest tests/chaos --durations=0

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
