"""Throughput of the FID Inception-V3 on this machine: images/s and GFLOP/s at 299x299.

Variants run alternated, rep by rep, so a load change on a shared machine hits them alike; the
table gives medians. A variant is `impl` of `inception.apply` ('auto', 'xla', 'im2col' or
'winograd') with options (`build`): `:batch_stem` for the stem run on the whole chunk instead
of image by image, `:chunkN` for N images per step, `:no_winograd` for the per-layer choice
without Winograd convs, `:ynn` for XLA:CPU's default YNNPACK fusions, `:xla_convs` for the
train step's compilation (YNNPACK's dots and reductions), `:reduce_window` for the 3x3 pools as
`lax.reduce_window` instead of `inception`'s strided slices. FLOPs are 2 x the
multiply-adds of the convolutions (11.42 G per image; XLA's cost analysis agrees conv by conv),
set against a float32 matmul peak measured in the same process.

  PYTHONPATH=. python experiments/benchmarks/inception_speed.py \\
      --variants=auto,auto:chunk50,auto:no_winograd:chunk50 --batch_sizes=50 --reps=5
"""
import argparse
import functools
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments.benchmarks import gan_step_bench
from experiments.benchmarks import inception_profile
from gan_jax import xla_cpu
from gan_jax.evaluation import inception


def flops_per_image(params, size):
  return sum(inception_profile.conv_flops(c, 1)
             for c in inception_profile.record_convs(params, size))


def build(variant):
  """'impl[:option...]' -> a jitted inception.apply. Options: batch_stem (the stem on the whole
  chunk), chunkN (N images per step), no_winograd (pick_impl's choice without Winograd), ynn
  (compiled with XLA:CPU's default YNNPACK fusions instead of COMPILER_OPTIONS), xla_convs (with
  the train step's default, YNNPACK's dots and reductions: gan_jax/xla_cpu.py), reduce_window
  (the pools as lax.reduce_window)."""
  impl, *options = variant.split(':')
  kwargs = {'impl': impl}
  compiler_options = inception.COMPILER_OPTIONS
  apply = inception.apply
  for option in options:
    if option == 'reduce_window':
      apply = with_reduce_window_pools(apply)
    elif option == 'ynn':
      compiler_options = None
    elif option == 'xla_convs':
      compiler_options = xla_cpu.XLA_CONVS
    elif option == 'batch_stem':
      kwargs['stem_per_image'] = False
    elif option.startswith('chunk'):
      kwargs['chunk'] = int(option[len('chunk'):])
    elif option == 'no_winograd':
      def conv_fn(x, p, *, impl, stride=1, same=True, **kw):
        if impl == 'auto':
          impl = inception.pick_impl(p['kernel'].shape, stride, use_winograd=False)
        return inception._conv(  # pylint: disable=protected-access
            x, p, impl=impl, stride=stride, same=same, **kw)
      kwargs['conv_fn'] = conv_fn
    else:
      raise ValueError(f'unknown option {option!r} in {variant!r}')
  return jax.jit(functools.partial(apply, **kwargs), compiler_options=compiler_options)


def _max_pool_reduce_window(x, *, stride=2, same=False):
  pad = ((0, 0), (1, 1), (1, 1), (0, 0)) if same else 'VALID'
  return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 3, 3, 1), (1, stride, stride, 1), pad)


def _avg_pool_reduce_window(x):
  pad = ((0, 0), (1, 1), (1, 1), (0, 0))
  window = lambda v: jax.lax.reduce_window(  # noqa: E731
      v, 0.0, jax.lax.add, (1, 3, 3, 1), (1, 1, 1, 1), pad)
  return window(x) / window(jnp.ones((1, *x.shape[1:3], 1), x.dtype))


def with_reduce_window_pools(apply):
  """`apply` traced with the pools as lax.reduce_window: jit runs the Python once, so the
  module's pools are swapped for that trace only."""
  def traced(*args, **kwargs):
    # pylint: disable=protected-access
    saved = inception._max_pool, inception._avg_pool_exclude_pad
    inception._max_pool, inception._avg_pool_exclude_pad = (_max_pool_reduce_window,
                                                            _avg_pool_reduce_window)
    try:
      return apply(*args, **kwargs)
    finally:
      inception._max_pool, inception._avg_pool_exclude_pad = saved
  return traced


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--variants', default='auto,auto:chunk50,auto:no_winograd:chunk50')
  parser.add_argument('--batch_sizes', default='50')
  parser.add_argument('--size', type=int, default=299)
  parser.add_argument('--reps', type=int, default=5)
  parser.add_argument('--channels', type=int, default=3, help='1: grayscale (MNIST) input.')
  args = parser.parse_args()
  params = inception.load_inception_params()
  gflop = flops_per_image(params, args.size) / 1e9
  peak = gan_step_bench.matmul_peak(reps=3, with_torch=False)['jax'][0]  # median GFLOP/s
  print(f'jax {jax.__version__}, {len(os.sched_getaffinity(0))} cores, XLA_FLAGS='
        f'{os.environ.get("XLA_FLAGS")!r}; {gflop:.2f} GFLOP/image at {args.size}x{args.size}; '
        f'float32 matmul peak {peak:.0f} GFLOP/s', flush=True)
  print('| variant | batch | images/s (median) | min-max | GFLOP/s | % of peak | 10k images, min |')
  print('|---|---|---|---|---|---|---|')
  for batch in map(int, args.batch_sizes.split(',')):
    images = jnp.asarray(np.random.default_rng(0).integers(
        0, 256, (batch, args.size, args.size, args.channels), np.uint8))
    fns = {}
    for variant in args.variants.split(','):
      fns[variant] = build(variant)
      jax.block_until_ready(fns[variant](params, images))  # compile
    rates = {v: [] for v in fns}
    for _ in range(args.reps):
      for v, f in fns.items():
        t = time.perf_counter()
        jax.block_until_ready(f(params, images))
        rates[v].append(batch / (time.perf_counter() - t))
    for v, r in rates.items():
      m = statistics.median(r)
      print(f'| {v} | {batch} | {m:.2f} | {min(r):.2f}-{max(r):.2f} | {m * gflop:.0f} | '
            f'{100 * m * gflop / peak:.0f} | {1e4 / m / 60:.1f} |', flush=True)


if __name__ == '__main__':
  main()
