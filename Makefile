# Honeycomb: `make plan` sets everything up and plans the sample cells offline; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup plan capacity test lint typecheck bench clean

setup: $(STAMP)

# Reinstalls only when pyproject.toml changes, so repeated runs are fast.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

plan: setup
	$(BIN)/cellctl validate
	$(BIN)/cellctl plan --all

# The capacity chart the README shows: every sample cell against its limits and headroom line.
capacity: setup
	$(BIN)/cellctl capacity --plot docs/capacity.png

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	# One worker per core, each test file kept on one worker (its module fixtures plan a stack once).
	$(BIN)/python -m pytest -n auto --dist loadfile

typecheck: setup
	$(BIN)/mypy

bench: setup
	@for b in plan management rollout tenants; do echo "== benchmarks/$$b.py"; $(BIN)/python benchmarks/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .honeycomb
