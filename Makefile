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

.PHONY: install test train bench clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

test: install
	$(PY) -m pytest -q tests

train: install
	$(PY) -m gan_jax.main --config=$(CONFIG) --workdir=$(WORKDIR)

clean:
	rm -rf $(VENV) workdirs .pytest_cache
