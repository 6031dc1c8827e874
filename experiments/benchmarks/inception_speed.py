"""Throughput of the FID Inception-V3 on this machine: images/s and GFLOP/s at 299x299.

Variants run alternated, rep by rep, so a load change on a shared machine hits them alike; the
table gives medians. A variant is `impl` of `inception.apply` ('auto', 'xla' or 'im2col'), with
`:batch_stem` for the stem run on the whole batch instead of image by image. FLOPs are 2 x the
multiply-adds of the convolutions (11.42 G per image; XLA's cost analysis agrees conv by conv),
set against a float32 matmul peak measured in the same process.

  PYTHONPATH=. python experiments/benchmarks/inception_speed.py \\
      --variants=auto,auto:batch_stem --batch_sizes=50 --reps=5
"""
import argparse
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments.benchmarks import gan_step_bench
from experiments.benchmarks import inception_profile
from gan_jax.evaluation import inception


def flops_per_image(params, size):
  return sum(inception_profile.conv_flops(c, 1)
             for c in inception_profile.record_convs(params, size))


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--variants', default='auto,auto:batch_stem')
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
      impl, _, option = variant.partition(':')
      fns[variant] = jax.jit(lambda p, x, impl=impl, option=option: inception.apply(
          p, x, impl=impl, stem_per_image=option != 'batch_stem'))
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
