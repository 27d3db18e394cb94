# cifarlab: two commands on a fresh machine.
#   make demo   set up .venv (first time only) and run the main job
#   make test   set up .venv (first time only) and run every test, notebooks included
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Reinstall only when the project's dependencies change.
STAMP := $(VENV)/.installed
JOBS ?= 2
# nbval: check only the cells marked NBVAL_CHECK_OUTPUT, in this venv's Python; a kernel
# gets 300 s to start (60 s by default: too little when two test runs share 2 cores).
NBVAL := --nbval-lax --nbval-current-env --nbval-kernel-startup-timeout 300

.PHONY: help install demo test test-lowest notebooks lab lint bench bench-notebooks clean

help:
	@echo "make demo   - set up .venv and run 'cifarlab demo' (train and compare on one superclass)"
	@echo "make test   - set up .venv and run the test suite"
	@echo "make test-lowest - the oldest versions pyproject.toml allows, in .venv-lowest: a fast part"
	@echo "make lab    - open JupyterLab on notebooks/"
	@echo "make notebooks - re-execute notebooks and write their student versions (smoke), for a commit"
	@echo "make lint   - ruff check"
	@echo "make bench  - run benchmarks/ and rewrite docs/benchmarks.md"
	@echo "make bench-notebooks - every notebook in full mode, no budget (hours): docs/notebook_times.md"
	@echo "make clean  - remove caches, runs/ and build files (keeps .venv)"

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cifarlab demo $(ARGS)

# The library's tests and every notebook (nbval, smoke mode on synthetic data).
test: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile $(NBVAL) tests notebooks $(PYTEST_ARGS)

# The bounds in pyproject.toml are true: the oldest versions they allow
# (tools/lowest_constraints.py), in their own .venv-lowest, pass the library's tests and
# one notebook. CI runs it after make test.
LOWEST ?= .venv-lowest
LOWEST_TESTS := tests/test_labels.py tests/test_data.py tests/test_augment.py \
	tests/test_models.py tests/test_train.py tests/test_evaluate.py tests/test_plots.py \
	tests/test_files.py tests/test_synthetic.py tests/test_transfer.py tests/test_packaging.py \
	notebooks/01_baseline_cnn.ipynb
$(LOWEST)/.installed: pyproject.toml tools/lowest_constraints.py
	@test -x $(LOWEST)/bin/python || $(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install --quiet --upgrade pip
	$(LOWEST)/bin/python -m pip install --quiet "tomli>=2.0; python_version < '3.11'"
	$(LOWEST)/bin/python tools/lowest_constraints.py > $(LOWEST)/constraints.txt
	$(LOWEST)/bin/python -m pip install --quiet -c $(LOWEST)/constraints.txt -e ".[dev]"
	@touch $@

test-lowest: $(LOWEST)/.installed
	$(LOWEST)/bin/python -m pip list --format=freeze | grep -i -E "^(tensorflow|keras|numpy|pandas)=="
	$(LOWEST)/bin/python -m pytest -n $(JOBS) --dist loadfile $(NBVAL) \
		-p no:cacheprovider $(LOWEST_TESTS) $(PYTEST_ARGS)

# Re-execute the notebooks (smoke, synthetic), write their student versions (solutions
# replaced by TODOs) to notebooks/student/ and execute those too; keep only the outputs of
# NBVAL_CHECK_OUTPUT cells (nbval compares them in make test).
notebooks: $(STAMP)
	$(BIN)/python tools/refresh_notebooks.py notebooks/[0-9][0-9]_*.ipynb

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

lint: $(STAMP)
	$(BIN)/ruff check cifarlab tests benchmarks docs notebooks tools

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run_all

# Every notebook as a student runs it (full mode), each stopped at 45 minutes: 1-3 hours.
bench-notebooks: $(STAMP)
	$(BIN)/python -m benchmarks.bench_notebooks $(ARGS)

clean:
	rm -rf .pytest_cache .ruff_cache build dist *.egg-info runs benchmarks/out
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +
