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

.PHONY: study test test-fast lint lock bench gpu-check dry-run clean-results clean-runs

# The exact versions of requirements.lock, then the project itself (editable, no resolution).
$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# The config is checked first: Snakemake reads --configfile itself, and a YAML syntax error
# there would name neither the file nor the line.
study: $(VENV)/.installed  ## run the study (default: the laptop-scale config/quick.yaml)
	$(BIN)/secondorder expand --config $(CONFIG) > /dev/null
	$(BIN)/snakemake --configfile $(CONFIG) --cores $(CORES)

# Tests run in one pytest-xdist worker per core (TEST_WORKERS=0: in this process, one by one).
TEST_WORKERS ?= auto
test: $(VENV)/.installed  ## the whole test suite, slow tests included
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

test-fast: $(VENV)/.installed
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests workflow
	$(BIN)/ruff format --check src tests workflow
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint

# Re-resolve requirements.lock from pyproject.toml (Linux x86_64, Python 3.11) and render the
# rules' environments from it. LOCK_FLAGS: extra uv flags, e.g. --extra-index-url or --constraint.
lock: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --no-header $(LOCK_FLAGS) -o requirements.lock.new
	sed -n 1,3p requirements.lock | cat - requirements.lock.new > requirements.lock.tmp
	mv requirements.lock.tmp requirements.lock
	rm requirements.lock.new
	$(BIN)/python workflow/envs/render.py

dry-run: $(VENV)/.installed
	$(BIN)/snakemake --configfile $(CONFIG) -n

bench: $(VENV)/.installed  ## timings of gradients, curvature products and steps -> JSON
	$(BIN)/snakemake --configfile $(CONFIG) --cores 1 data/prepared/mnist.pt
	$(BIN)/secondorder bench --out benchmarks/results/bench-$$(hostname).json

# The GPU path tried once (README, "GPU check"): at most 8 minutes on a GPU; DEVICE=cpu is the
# small CPU rehearsal (same steps and JSON, fewer networks and steps, nothing shipped written).
DEVICE ?= cuda
GPU_CHECK_OUT ?= benchmarks/results
gpu-check: $(VENV)/.installed  ## every GPU-path check on DEVICE -> $(GPU_CHECK_OUT)/gpu-check-*
	$(BIN)/secondorder gpu-check --device $(DEVICE) --out $(GPU_CHECK_OUT) \
		$(if $(filter cpu,$(DEVICE)),--small)

DERIVED := results/aggregated results/figures results/tables results/report.md \
	results/metrics.json results/logs

clean-results:  ## delete what the runs are turned into; keeps every run (hours of training)
	rm -rf $(DERIVED)

clean-runs:  ## delete all results, finished runs included, after asking (`yes | make ...`)
	@printf 'Delete results/ with its %s run folders, finished runs included? [y/N] ' \
		"$$(ls results/runs 2>/dev/null | wc -l)"; \
	read answer || answer=; \
	case "$$answer" in y|Y|yes) ;; *) echo "nothing deleted"; exit 1;; esac; \
	rm -rf results .snakemake
