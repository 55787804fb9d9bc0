# fleet-handshake: `make demo` to see it work, `make test` to check everything.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_OUT := demo-out

.DEFAULT_GOAL := help
.PHONY: help install demo test lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 12

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "fleet-handshake needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install fleet-handshake with its test tools

demo: $(STAMP) ## generate bundles from examples/demo into demo-out/ and show them
	SOPS_AGE_KEY_FILE=examples/demo/demo-age-key.txt $(BIN)/fleet-handshake generate examples/demo --out $(DEMO_OUT)
	@$(BIN)/python examples/demo/show.py $(DEMO_OUT)
	@echo; echo "fleet-handshake plan --map: the Secrets each cluster of the demo inventory receives (key names only):"
	SOPS_AGE_KEY_FILE=examples/demo/demo-age-key.txt $(BIN)/fleet-handshake plan examples/demo --out $(DEMO_OUT) --inventory examples/demo/inventory.yaml --map
	@$(BIN)/python examples/demo/pr_preview.py $(DEMO_OUT)
	@$(BIN)/python examples/demo/modes.py $(DEMO_OUT)

lint: $(STAMP) ## ruff, mypy and the import-layer contracts
	$(BIN)/ruff check generator tests examples benchmarks
	$(BIN)/ruff format --check generator tests examples benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint ## the whole test suite (what CI runs)
	$(BIN)/pytest

.PHONY: bench
BENCH_ARGS ?=
bench: $(STAMP) ## time generate and plan against a sops decrypt loop (see benchmarks/README.md)
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean: ## remove the virtual environment and generated files
	rm -rf $(VENV) $(DEMO_OUT) $(DEMO_OUT)-sops $(DEMO_OUT)-downstream .pytest_cache .mypy_cache .ruff_cache .hypothesis
	rm -rf .$(DEMO_OUT).fh-spare .$(DEMO_OUT)-sops.fh-spare .$(DEMO_OUT)-downstream.fh-spare
