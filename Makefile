# The project's commands. `make test` and `make run` set everything up themselves (.venv).
SHELL := bash
.SHELLFLAGS := -o pipefail -c
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NB ?=
# Exact versions that produced the committed outputs; `make setup CONSTRAINTS=` installs without them.
CONSTRAINTS ?= constraints.txt
PIP_CONSTRAINTS := $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
# What constraints.txt pins (`make constraints` writes their installed versions).
CONSTRAINED := torch torchvision numpy scipy scikit-learn matplotlib contourpy pillow imageio threadpoolctl joblib \
	tqdm nbval nbclient nbformat ipykernel ipython ipywidgets jupyter_client jupyter_core pyzmq traitlets pytest
# Tests and smoke runs use one thread unless OMP_NUM_THREADS says otherwise (see README, "Tests").
TEST_ENV := OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1}
# Offline copy of the data sets: ../shared/data when it exists, unless GENMODELS_DATA is already set.
SHARED_DATA := $(abspath ../shared/data)
export GENMODELS_DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),)

.PHONY: setup test test-all test-helpers test-helpers-all test-notebooks run verify constraints upgrade checkpoints \
	bench notebooks gpu-check clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-site.txt pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(BIN)/python -m pip install -q -r requirements.txt -r requirements-site.txt $(PIP_CONSTRAINTS) 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(BIN)/python -m pip install -q --no-deps -e . 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(BIN)/python -c "import torchvision, helpers.utils as u; print('installed', u.versions(), '| torchvision', torchvision.__version__)"
	touch $@

## make constraints: write the installed versions of $(CONSTRAINED) to constraints.txt
constraints: $(STAMP)
	{ echo "# Exact versions behind the committed notebook outputs, used by make and CI (pip install -c)."; \
	  echo "# Written by \`make constraints\` from .venv on $$(date -u +%F) (python $$($(BIN)/python -c 'import platform; print(platform.python_version())'))."; \
	  echo "# Skip them with \`make setup CONSTRAINTS=\`; refresh with \`make upgrade\` or \`make constraints\`."; \
	  $(BIN)/python -c 'import sys, importlib.metadata as m; print("\n".join(f"{n}=={m.version(n).split(chr(43))[0]}" for n in sys.argv[1:]))' $(CONSTRAINED); \
	} > constraints.txt.tmp && mv constraints.txt.tmp constraints.txt
	cat constraints.txt

## make upgrade: the newest versions requirements.txt allows (constraints.txt ignored), then write them to it
upgrade:
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade -r requirements.txt 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(BIN)/python -m pip install -q --no-deps -e . 2>&1 | { grep -v "^WARNING: Location" || true; }
	touch $(STAMP)
	$(MAKE) constraints

## make test: the helpers' tests (without those marked slow), then every notebook under the smoke profile (nbval)
test: test-helpers test-notebooks

## make test-all: every test, slow ones included, then the smoke profile of every notebook
test-all: test-helpers-all test-notebooks

test-helpers: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -q -m "not slow" --durations=10 tests/

test-helpers-all: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -q --durations=10 tests/

test-notebooks: $(STAMP)
	GENMODELS_PROFILE=smoke $(TEST_ENV) $(BIN)/python -m pytest -q --nbval-lax --durations=10 notebooks/

## make run [NB=02]: execute notebooks in place with outputs (default profile), print wall times
run: $(STAMP)
	$(BIN)/python scripts/run_notebooks.py $(NB)

## make verify NB=03: run the notebook's full profile; nbval (strict) compares every cell with the committed output
verify: $(STAMP)
	@test -n "$(NB)" || { echo "usage: make verify NB=03 [NB=\"03 04\"]: runs the full profile, see README"; exit 2; }
	$(BIN)/python scripts/verify_notebooks.py $(NB)

## make notebooks: rebuild notebooks/*.ipynb from their sources notebooks/src/*.py (outputs dropped)
notebooks: $(STAMP)
	$(BIN)/python scripts/build_notebook.py notebooks/src/*.py

## make checkpoints: retrain every shipped checkpoint (long; see README)
checkpoints: $(STAMP)
	PY=$(BIN)/python bash scripts/train_checkpoints.sh

## make bench: benchmarks, each timing the project's code beside a naive baseline
bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

## make gpu-check: on a CUDA machine, the tests, every notebook (smoke, nbval) and notebook 06's CIFAR-10 training
## on the GPU, reported in notebooks/gpu_check.json; without CUDA it says so and exits 0
gpu-check: $(STAMP)
	$(BIN)/python scripts/gpu_check.py

## make gpu-bundle: write .gpu/ (git-ignored): the wheels a bare CUDA machine with Python 3.12 lacks, the offline
## data the check reads, and run.sh; prints tree + bundle size (limit 60 MiB). On the GPU machine: bash .gpu/run.sh
.PHONY: gpu-bundle tree-size
gpu-bundle: $(STAMP)
	$(BIN)/python scripts/gpu_bundle.py

## make tree-size: the size of the working tree as it would be sent (tracked + untracked-not-ignored files) and
## its largest files; fails above the limit of tests/test_tree_size.py (45 MiB)
tree-size:
	$(PY) tests/test_tree_size.py

## make site: the course website in site/_build/html (git-ignored) from the committed notebooks, not executed
## (Sphinx + myst-nb, scripts/build_site.py; a few seconds). Open site/_build/html/index.html
.PHONY: site site-check
site: $(STAMP)
	$(BIN)/python scripts/build_site.py

## make site-check: serve the built site on 127.0.0.1 and open every page in headless Chromium (Debian's package,
## installed when missing and root): fails on console errors, broken links or images, untypeset math; screenshots
## in site/_build/screenshots (scripts/site_check.py)
SITE_CHECK_STAMP := $(VENV)/.site-check-installed
$(SITE_CHECK_STAMP): requirements-site-check.txt $(STAMP)
	$(BIN)/python -m pip install -q -r requirements-site-check.txt 2>&1 | { grep -v "^WARNING: Location" || true; }
	touch $@

site-check: site $(SITE_CHECK_STAMP)
	@test -x /usr/bin/chromium || { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; else \
	  echo "make site-check needs Debian's chromium: sudo apt-get install -y chromium"; exit 2; fi; }
	$(BIN)/python scripts/site_check.py

clean:
	rm -rf $(VENV) .pytest_cache
