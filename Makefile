# The README's two commands: `make test` and `make train`. Both install what they need first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
WORKDIR ?= workdirs/dcgan
CONFIG ?= configs/dcgan.py

# Offline data: the original files in ../shared/data when they sit beside the repository
# (read only; tfds prepares them into TFDS_DATA_DIR). Elsewhere tfds downloads as usual.
SHARED_DATA := $(abspath ../shared/data)
export GAN_JAX_DATA_DIR ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),)
export TFDS_DATA_DIR ?= $(HOME)/tensorflow_datasets
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install test test-slow test-all train bench clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

# Two workers, one per core. `make test` is the fast tier, its tests spread one by one
# (--dist load); the tests marked slow (multi-process, device counts, the fault test, the
# evaluation CLI) run in `make test-slow` with each module kept on one worker (--dist loadfile),
# so that the device-equivalence subprocess, a module fixture, runs once. CI runs both.
PYTEST := $(PY) -m pytest -q -n 2
PYTEST_ARGS ?=
test: install
	$(PYTEST) --dist load -m 'not slow' tests $(PYTEST_ARGS)

test-slow: install
	$(PYTEST) --dist loadfile -m slow tests $(PYTEST_ARGS)

test-all: install
	$(PYTEST) --dist loadfile tests $(PYTEST_ARGS)

train: install
	$(PY) -m gan_jax.main --config=$(CONFIG) --workdir=$(WORKDIR)

# The JAX vs PyTorch train-step benchmark (~20 min on 2 cores); BENCH_ARGS to narrow it, e.g.
# make bench BENCH_ARGS='--nets=vanilla --batches=64 --reps=3'.
BENCH_ARGS ?=
bench: $(VENV)/.installed-bench
	$(PY) experiments/benchmarks/gan_step_bench.py --out=experiments/benchmarks/results.md $(BENCH_ARGS)

$(VENV)/.installed-bench: requirements-bench.txt $(VENV)/.installed
	$(PY) -m pip install -q -r requirements-bench.txt
	touch $@

clean:
	rm -rf $(VENV) workdirs .pytest_cache
