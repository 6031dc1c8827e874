# The README's two commands: `make test` and `make train`. Both install what they need first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The main job: the class-conditional DCGAN, 5,000 steps on MNIST (README, "What `make train`
# gives"). At this length the unconditional DCGAN (configs/dcgan.py) still draws many malformed
# digits (classifier FCD ~76), and an EMA of G does not help either model yet.
CONFIG ?= configs/cgan.py
WORKDIR ?= workdirs/cgan

# Offline data: the original files in ../shared/data when they sit beside the repository
# (read only; tfds prepares them into TFDS_DATA_DIR). Elsewhere tfds downloads as usual.
SHARED_DATA := $(abspath ../shared/data)
export GAN_JAX_DATA_DIR ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),)
export TFDS_DATA_DIR ?= $(HOME)/tensorflow_datasets
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install test test-slow test-all train bench clean

install: $(VENV)/.installed

# The bytecode is compiled after pip, on every core (-j 0), not by pip file by file: 58 s for
# install and compile here against 79 s. (Bytecode is still wanted: with PYTHONDONTWRITEBYTECODE
# set, as on the CI machines, every process would otherwise compile TensorFlow's modules anew,
# 18 s per import instead of 7.)

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --no-compile -r requirements.txt
	$(PY) -m compileall -q -j 0 $(VENV)/lib > /dev/null
	touch $@

# Two workers, one per core; a test module stays on one worker (--dist loadfile), so module
# fixtures (MNIST, the Inception weights, the device-equivalence subprocess) load once.
# `make test` is the fast tier; the tests marked slow (multi-process, device counts, the fault
# test, the evaluation CLI) run in `make test-slow`, and both in `make test-all` (CI: .ci/run).
# --durations: every run lists its slowest tests, so the suite's time budget can be kept.
PYTEST := $(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=12
PYTEST_ARGS ?=
test: install
	$(PYTEST) -m 'not slow' tests $(PYTEST_ARGS)

test-slow: install
	$(PYTEST) -m slow tests $(PYTEST_ARGS)

test-all: install
	$(PYTEST) tests $(PYTEST_ARGS)

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
