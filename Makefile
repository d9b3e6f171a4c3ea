# Every target creates (or reuses) the project virtualenv .venv and installs
# what it needs from nothing, so a fresh clone needs only `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all install demo test lint doc clean bench

all: test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --progress-bar off -e ".[all,dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/sk-eeg demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Two test workers, one BLAS / OpenMP / torch thread each: with the libraries'
# default of one thread per core per worker the cores are oversubscribed (the
# whole suite took 5 min 13 s that way, 2 min 51 s with one thread each).
TEST_THREADS ?= 1

test: lint
	OMP_NUM_THREADS=$(TEST_THREADS) $(BIN)/python -m pytest -n 2 --dist loadgroup

doc: $(STAMP)
	$(MAKE) -C doc html SPHINXBUILD=$(CURDIR)/$(BIN)/sphinx-build

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) doc/_build doc/auto_examples doc/generated .pytest_cache
