# The project's commands. `make test` and `make run` set everything up themselves (.venv).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NB ?=
# Offline copy of the data sets: ../shared/data when it exists, unless GENMODELS_DATA is already set.
SHARED_DATA := $(abspath ../shared/data)
export GENMODELS_DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),)

.PHONY: setup test test-helpers test-notebooks run checkpoints bench notebooks clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -m pip install -q -r requirements.txt 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -m pip install -q --no-deps -e . 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import torch, torchvision, helpers; print('torch', torch.__version__, '| torchvision', torchvision.__version__)"
	touch $@

## make test: the helpers' tests, then every notebook under the smoke profile (nbval)
test: test-helpers test-notebooks

test-helpers: $(STAMP)
	$(BIN)/python -m pytest -q tests/

test-notebooks: $(STAMP)
	GENMODELS_PROFILE=smoke $(BIN)/python -m pytest -q --nbval-lax notebooks/

## make run [NB=02]: execute notebooks in place with outputs (default profile), print wall times
run: $(STAMP)
	$(BIN)/python scripts/run_notebooks.py $(NB)

## make notebooks: rebuild notebooks/*.ipynb from their sources notebooks/src/*.py (outputs dropped)
notebooks: $(STAMP)
	$(BIN)/python scripts/build_notebook.py notebooks/src/*.py

## make checkpoints: retrain every shipped checkpoint (long; see README)
checkpoints: $(STAMP)
	PY=$(BIN)/python bash scripts/train_checkpoints.sh

## make bench: benchmarks, each timing the project's code beside a naive baseline
bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
