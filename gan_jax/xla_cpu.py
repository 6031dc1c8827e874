"""Which kernels XLA:CPU compiles a function's convolutions, dots and reductions to, per function.

By default XLA:CPU (jax 0.10) hands convolutions, dots and reductions to YNNPACK ("ynn" fusions).
The compiler option `xla_cpu_experimental_ynn_fusion_type` names the kinds YNNPACK keeps (empty:
none, XLA's own Eigen kernels and loops do all). As a `compiler_options` entry of one compiled
function it leaves every other function on the default (XLA_FLAGS would set it process-wide).
Measured on 2 cores (experiments/benchmarks/xla_flags.md, step_kernels_bench.py):

  - YNNPACK's convolutions are the slow ones in the train step: D's 14x14x64 -> 7x7x128 kernel
    gradient at batch 256 takes 41 ms there against 28 with XLA's own;
  - its reductions are the fast ones: without them XLA rewrites each BatchNorm statistic into a
    reduce-window tree, and BatchNorm's forward at 14x14x64, batch 256, takes 26 ms against 0.9;
  - its dots run the MLP step 11-29 % faster than XLA's own.

So the train step takes XLA_CONVS by default (`config.xla_cpu_kernels`): YNNPACK's dots and
reductions, XLA's own convolutions. An MLP, with no convolution, compiles as with the default.
FID's Inception, whose dots are Winograd tiles and 1x1 convs, runs fastest with none of
YNNPACK's kernels (XLA_KERNELS; experiments/benchmarks/inception_profile.md).
"""
from typing import Any, Callable, Dict, Optional

import jax
import numpy as np

_OPTION = 'xla_cpu_experimental_ynn_fusion_type'
XLA_KERNELS = {_OPTION: ''}
XLA_CONVS = {_OPTION: 'LIBRARY_FUSION_TYPE_DOT,LIBRARY_FUSION_TYPE_REDUCE'}
# config.xla_cpu_kernels -> compiler options (None: XLA:CPU's default, YNNPACK's for all three).
KERNELS = {'xla_convs': XLA_CONVS, 'ynnpack': None, 'xla': XLA_KERNELS}


def step_options(config, backend: Optional[str] = None) -> Optional[Dict[str, Any]]:
  """Compiler options for the config's train step, by `config.xla_cpu_kernels` (KERNELS).

  None off CPU, where the option means nothing, and in multi-process runs: there pmap's
  ahead-of-time executable (`compile_with`) wants global arrays where the trainer feeds each
  process's own, so those runs (on CPU, tests) keep XLA:CPU's defaults.
  """
  if (backend or jax.default_backend()) != 'cpu' or jax.process_count() > 1:
    return None
  return KERNELS[config.xla_cpu_kernels]


def compile_with(fn: Callable, options: Optional[Dict[str, Any]]) -> Callable:
  """`fn` (a `jax.jit` or `jax.pmap` function) compiled with `options` on its first call for
  each input signature (tree, shapes and dtypes), then called as that executable. jax.jit takes
  compiler_options itself; jax.pmap does not, but its `lower(...).compile(...)` does."""
  if not options:
    return fn
  executables = {}

  def call(*args):
    leaves, tree = jax.tree.flatten(args)
    key = (tree, tuple((np.shape(x), np.result_type(x)) for x in leaves))
    if key not in executables:
      executables[key] = fn.lower(*args).compile(compiler_options=options)
    return executables[key](*args)

  return call
