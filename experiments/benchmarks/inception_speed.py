"""Throughput of the FID Inception-V3 on this machine: images/s and achieved GFLOP/s at 299x299.

Also measures the float32 matmul peak (a large jnp.dot) so the GFLOP/s can be read as a fraction
of what this CPU can do. FLOPs are the network's nominal conv FLOPs (2 * MACs, from XLA's cost
analysis of the `xla` conv implementation); im2col does the same multiply-adds.

The machine this was tuned on is shared, so besides wall-clock rates it prints CPU-time rates
scaled to all cores ("cpu-norm" = work per CPU-second x number of cores): that is what the run
would reach with the cores to itself, and it is far less noisy under contention. Set XLA_FLAGS
in the environment to compare XLA:CPU options.

  PYTHONPATH=. python experiments/benchmarks/inception_speed.py --batch_sizes 8,16,32
"""
import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.evaluation import inception


def _rates(fn, work, repeats):
  """(wall-clock rate, cpu-normalised rate) of `work` units per call of fn."""
  fn()  # compile / warm up
  t, c = time.perf_counter(), time.process_time()
  for _ in range(repeats):
    fn()
  wall, cpu = time.perf_counter() - t, time.process_time() - c
  return work * repeats / wall, work * repeats / cpu * os.cpu_count()


def matmul_peak(n=4096, repeats=3):
  """float32 GFLOP/s of one large jnp.dot: (wall, cpu-normalised)."""
  a = jnp.ones((n, n), jnp.float32)
  f = jax.jit(jnp.dot)
  return _rates(lambda: f(a, a).block_until_ready(), 2 * n**3 / 1e9, repeats)


apply_inception = jax.jit(inception.apply, static_argnames='impl')


def flops_per_image(params, size):
  x = jax.ShapeDtypeStruct((1, size, size, 3), jnp.uint8)
  lowered = apply_inception.lower(params, x, impl='xla')
  cost = lowered.compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return cost['flops']


def throughput(params, batch, size, impl, repeats):
  """Images/s: (wall, cpu-normalised)."""
  x = jnp.asarray(np.random.default_rng(0).integers(0, 256, (batch, size, size, 3), np.uint8))
  return _rates(lambda: apply_inception(params, x, impl=impl).block_until_ready(), batch,
                repeats)


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--batch_sizes', default='8,16,32')
  parser.add_argument('--impls', default='auto,xla,im2col')
  parser.add_argument('--size', type=int, default=299)
  parser.add_argument('--repeats', type=int, default=2)
  args = parser.parse_args()
  params = inception.load_inception_params()
  flops = flops_per_image(params, args.size) / 1e9
  print(f'devices {jax.devices()} x{os.cpu_count()} cores, XLA_FLAGS={os.environ.get("XLA_FLAGS")!r}'
        f', {flops:.2f} GFLOP/image at {args.size}x{args.size}')
  for impl in args.impls.split(','):
    for b in map(int, args.batch_sizes.split(',')):
      peak, peak_cpu = matmul_peak()  # re-measured next to each run: the load drifts
      ips, ips_cpu = throughput(params, b, args.size, impl, args.repeats)
      print(f'impl={impl:7s} batch={b:3d}  wall: {ips:5.2f} img/s {ips * flops:5.1f} GFLOP/s '
            f'(matmul peak {peak:3.0f}, {100 * ips * flops / peak:2.0f}%)  cpu-norm: '
            f'{ips_cpu:5.2f} img/s {ips_cpu * flops:5.1f} GFLOP/s (peak {peak_cpu:3.0f}, '
            f'{100 * ips_cpu * flops / peak_cpu:2.0f}%) 10k: {1e4 / ips_cpu / 60:4.1f} min',
            flush=True)


if __name__ == '__main__':
  main()
