# The two quick-start commands (`make study`, `make test`) create the environment when missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= config/quick.yaml
CORES ?= all

# Offline machines keep the datasets beside the checkout (see README, "Data without internet").
ifeq ($(origin SECONDORDER_DATA), undefined)
ifneq ($(wildcard ../shared/data/MNIST),)
export SECONDORDER_DATA := $(abspath ../shared/data)
endif
endif
export DVC_NO_ANALYTICS := 1

.PHONY: study test test-fast lint bench dry-run clean-results

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

study: $(VENV)/.installed  ## run the study (default: the laptop-scale config/quick.yaml)
	$(BIN)/snakemake --configfile $(CONFIG) --cores $(CORES)

test: $(VENV)/.installed  ## the whole test suite, slow tests included
	$(BIN)/python -m pytest -q

test-fast: $(VENV)/.installed
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests workflow/scripts
	$(BIN)/ruff format --check src tests workflow/scripts

dry-run: $(VENV)/.installed
	$(BIN)/snakemake --configfile $(CONFIG) -n

bench: $(VENV)/.installed  ## timings of gradients, curvature products and steps -> JSON
	$(BIN)/snakemake --configfile $(CONFIG) --cores 1 data/prepared/mnist.pt
	$(BIN)/secondorder bench --out benchmarks/results/bench-$$(hostname).json

clean-results:
	rm -rf results .snakemake
