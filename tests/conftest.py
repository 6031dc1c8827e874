"""Shared fixtures: tiny configs on the real data (MNIST from ../shared/data, prepared by tfds).

One JAX compilation cache per test session, in a fresh temporary folder that every test and every
subprocess it starts (the trainer, the fault test, the sweep, the multi-process workers) shares:
the same tiny step is compiled once per session instead of once per run. Fresh, so that a session
never depends on an earlier one; the cache holds exactly what XLA compiled, so results are the
same as without it.
"""
import os
import shutil
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # `configs` and `gan_jax` import from the repository root.

from configs import default  # noqa: E402  (needs the path above)

_CACHE = {}
# XLA:CPU's LLVM at its lowest optimisation for the tests and every process they start (they
# inherit the environment): much of the suite's time is compiling small programs that then run
# a few steps of tiny nets. Idle cores: the fast tier (make test) took 284 s with them against
# 392 s without (the latter with toy.kde_pdf already cut, which only helped it); the device-count
# subprocess (dcgan, dcgan:toolbox) 64 s against 77-86 s. Runs of many steps are slower (the
# toy's 2,000 steps: 66 s against 51). XLA:CPU's older fusion emitters compile faster again:
# the tiny DCGAN step with the toolbox 3.9-5.4 s against 7.4 s, test_devices' subprocess 98 s
# against 126 s, the toy's module unchanged (80 s against 79). Results move only in float
# rounding: tests compare runs within one session, or hold margins measured over seeds and
# machines.
TEST_XLA_FLAGS = ('--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true '
                  '--xla_cpu_use_fusion_emitters=false')


def xla_flags(*extra):
  """XLA_FLAGS for a subprocess: the session's flags plus `extra`."""
  return ' '.join((os.environ.get('XLA_FLAGS', ''), *extra)).strip()


def pytest_configure(config):
  if TEST_XLA_FLAGS not in os.environ.get('XLA_FLAGS', ''):
    os.environ['XLA_FLAGS'] = xla_flags(TEST_XLA_FLAGS)  # Before JAX starts its backend.
  if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
    _CACHE['dir'] = tempfile.mkdtemp(prefix='gan_jax_tests_jax_cache_')
    os.environ['JAX_COMPILATION_CACHE_DIR'] = _CACHE['dir']
  # Every program, not only those that compile for more than a second (the default).
  os.environ['JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'] = '0'
  import jax
  jax.config.update('jax_compilation_cache_dir', os.environ['JAX_COMPILATION_CACHE_DIR'])
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
  if os.environ.get('PYTEST_XDIST_WORKER') is None and config.getoption('numprocesses', None):
    # The main process of a parallel run prepares the tfds data sets the tests read, once,
    # before its workers start: two workers preparing MNIST at once would write the same files.
    # A decoded split means a prepared set, and is found without importing tfds (7 s here).
    from gan_jax import data_dir, input_pipeline
    for name in ('mnist', 'fashion_mnist'):
      if input_pipeline.decoded_file_without_tfds(name, 'train'):
        continue
      try:
        input_pipeline.get_builder(name)
      except data_dir.DataUnavailableError:
        pass  # The tests that need it skip or fail with the message themselves.


# The modules that take longest (worker seconds in a CI run here, both tiers), scheduled first:
# with --dist loadfile a worker runs a whole module, and xdist hands modules out in collection
# order (after sorting them by test count unless --no-loadscope-reorder, which the Makefile
# sets), so a long module left for the end keeps one worker busy while the other idles.
LONGEST_FIRST = ('test_toy1d', 'test_devices', 'test_train', 'test_multihost', 'test_steps',
                 'test_faults', 'test_evaluate', 'test_toolbox', 'test_upsample', 'test_fid',
                 'test_conv', 'test_sweep', 'test_checkpoints', 'test_models')


def pytest_collection_modifyitems(session, config, items):
  del session, config
  rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
  module = lambda item: os.path.basename(item.nodeid.split('::')[0])[:-len('.py')]  # noqa: E731
  items.sort(key=lambda item: rank.get(module(item), len(rank)))


def pytest_unconfigure(config):
  del config
  if 'dir' in _CACHE:
    shutil.rmtree(_CACHE['dir'], ignore_errors=True)


def tiny(config, **overrides):
  """`default.runlocal(config)` (the one shrinker) with `overrides` of dotted keys on top."""
  config = default.runlocal(config)
  for key, value in overrides.items():
    target = config
    *path, last = key.split('.')
    for p in path:
      target = target[p]
    target[last] = value
  return config


def outputs_and_vjp(fn, *primals, cotangent):
  """(fn(*primals), *the cotangent pulled back to each primal), as one jitted program: op by op,
  each operation of both passes would compile on its own (the layer tests' main cost)."""
  import jax

  @jax.jit
  def run(primals, cotangent):
    y, vjp = jax.vjp(fn, *primals)
    return (y, *vjp(cotangent))
  return run(primals, cotangent)


@pytest.fixture
def tiny_config():
  return lambda name='dcgan', **kw: tiny(__import__(f'configs.{name}', fromlist=['x'])
                                         .get_config(), **kw)
