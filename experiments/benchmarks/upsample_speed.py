"""Micro-benchmark: forward+backward of one Upsample layer per impl on the current backend.

Times jitted value_and_grad w.r.t. (kernel, input) of sum(y * g) for DCGAN-sized layers, with
block_until_ready, and reports the median (and min) of several interleaved reps and the speed-up over
'conv_transpose' (what nn.ConvTranspose computes). Not a test; run e.g.

  PYTHONPATH=. python experiments/benchmarks/upsample_speed.py [--reps 20] [--batch 64]
"""
import argparse
import statistics
import time

import jax
import jax.numpy as jnp

from gan_jax.models.upsample import Upsample

# (name, input HxW, in channels, out channels, kernel, padding)
LAYERS = [
    ('7x7x128->14x14x64 k5', 7, 128, 64, 5, 'SAME'),
    ('7x7x128->14x14x64 k4', 7, 128, 64, 4, 'SAME'),
    ('14x14x64->28x28x1 k5', 14, 64, 1, 5, 'SAME'),
    ('14x14x64->28x28x1 k4', 14, 64, 1, 4, 'SAME'),
    ('14x14x64->28x28x32 k4', 14, 64, 32, 4, 'SAME'),
]
IMPLS = ('conv_transpose', 'subpixel', 'dot_grad')


def bench_layer(batch, hw, cin, cout, k, padding, reps):
  """{impl: (fwd, fwd+bwd) lists of seconds}. Impls run round-robin each rep so that load
  changes on a shared machine hit all of them alike."""
  x = jax.random.normal(jax.random.key(0), (batch, hw, hw, cin))
  params = Upsample(cout, k, 2, padding).init(jax.random.key(1), x)  # shared by all impls
  fns = {}
  for impl in IMPLS:
    module = Upsample(cout, k, 2, padding, impl=impl)
    g = jax.random.normal(jax.random.key(2), module.apply(params, x).shape)
    loss = lambda p, x, module=module, g=g: jnp.sum(module.apply(p, x) * g)
    fns[impl] = (jax.jit(module.apply), jax.jit(jax.value_and_grad(loss, argnums=(0, 1))))
    for fn in fns[impl]:  # compile + warm up
      jax.block_until_ready(fn(params, x))
  times = {impl: ([], []) for impl in IMPLS}
  for _ in range(reps):
    for impl in IMPLS:
      for fn, out in zip(fns[impl], times[impl]):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(params, x))
        out.append(time.perf_counter() - t0)
  return times


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--batch', type=int, default=64)
  parser.add_argument('--reps', type=int, default=20)
  args = parser.parse_args()
  print(f'backend={jax.default_backend()} devices={jax.devices()} batch={args.batch} '
        f'reps={args.reps}; ms, median (min) of interleaved reps')
  for name, hw, cin, cout, k, padding in LAYERS:
    res = bench_layer(args.batch, hw, cin, cout, k, padding, args.reps)
    med = {impl: [statistics.median(t) for t in ts] for impl, ts in res.items()}
    base_f, base_fb = med['conv_transpose']
    print(f'\n{name}')
    for impl, (f, fb) in med.items():
      mf, mfb = (min(t) for t in res[impl])
      print(f'  {impl:15s} fwd {f * 1e3:7.2f} (min {mf * 1e3:7.2f})  '
            f'fwd+bwd {fb * 1e3:7.2f} (min {mfb * 1e3:7.2f})  '
            f'speed-up fwd+bwd x{base_fb / fb:5.2f}  fwd x{base_f / f:5.2f}')


if __name__ == '__main__':
  main()
