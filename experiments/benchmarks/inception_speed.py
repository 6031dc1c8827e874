"""Throughput of the FID Inception-V3 on this machine: images/s and achieved GFLOP/s at 299x299.

Also measures the float32 matmul peak (a large jnp.dot) so the GFLOP/s can be read as a fraction
of what this CPU can do. FLOPs are the network's nominal conv FLOPs (2 * MACs, from XLA's cost
analysis of the `xla` conv implementation); im2col does the same multiply-adds.

  PYTHONPATH=. python experiments/benchmarks/inception_speed.py --batch_sizes 8,16,32
"""
import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.evaluation import inception


def matmul_peak(n=4096, repeats=3):
  a = jnp.ones((n, n), jnp.float32)
  f = jax.jit(jnp.dot)
  f(a, a).block_until_ready()
  t = time.perf_counter()
  for _ in range(repeats):
    f(a, a).block_until_ready()
  return 2 * n**3 * repeats / (time.perf_counter() - t) / 1e9


def flops_per_image(params, size):
  x = jax.ShapeDtypeStruct((1, size, size, 3), jnp.uint8)
  lowered = jax.jit(inception.apply, static_argnames='impl').lower(params, x, impl='xla')
  cost = lowered.compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return cost['flops']


def throughput(params, batch, size, impl, repeats):
  x = jnp.asarray(np.random.default_rng(0).integers(0, 256, (batch, size, size, 3), np.uint8))
  inception.apply_jit(params, x, impl=impl).block_until_ready()  # compile
  t = time.perf_counter()
  for _ in range(repeats):
    inception.apply_jit(params, x, impl=impl).block_until_ready()
  return batch * repeats / (time.perf_counter() - t)


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--batch_sizes', default='8,16,32')
  parser.add_argument('--impls', default='auto,xla,im2col')
  parser.add_argument('--size', type=int, default=299)
  parser.add_argument('--repeats', type=int, default=2)
  args = parser.parse_args()
  params = inception.load_inception_params()
  peak = matmul_peak()
  flops = flops_per_image(params, args.size)
  print(f'devices {jax.devices()}  matmul peak {peak:.0f} GFLOP/s  '
        f'{flops / 1e9:.2f} GFLOP/image at {args.size}x{args.size}')
  for impl in args.impls.split(','):
    for b in map(int, args.batch_sizes.split(',')):
      ips = throughput(params, b, args.size, impl, args.repeats)
      gf = ips * flops / 1e9
      print(f'impl={impl:7s} batch={b:3d}  {ips:6.2f} images/s  {gf:6.1f} GFLOP/s '
            f'({100 * gf / peak:.0f}% of peak)  10k images: {1e4 / ips / 60:.1f} min', flush=True)


if __name__ == '__main__':
  main()
