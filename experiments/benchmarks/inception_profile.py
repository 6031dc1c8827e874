"""Where FID's Inception-V3 spends its time on XLA:CPU: every convolution timed on its own, at its
shape in the network, with each implementation of `inception._conv`, against the whole forward.

For each conv (in network order) it prints ms per batch and achieved GFLOP/s for every impl, the
one `impl='auto'` picks, and (if PyTorch is installed) torch's channels-last conv of the same
shape. The sum of the per-conv times of the auto choice, set against one whole `apply`, shows
what the rest (pools, concatenations, bias/ReLU, the resize) costs. Writes a markdown table.

  PYTHONPATH=. python experiments/benchmarks/inception_profile.py --batch=50 \\
      --out=experiments/benchmarks/inception_profile.md
"""
import argparse
import collections
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.evaluation import inception

Conv = collections.namedtuple('Conv', 'name shape kernel stride same')


def record_convs(params, size):
  """The convs of one forward pass at size x size, in order: name, input shape (batch 1), ..."""
  names = {id(leaf['kernel']): '/'.join(str(k.key) for k in path)
           for path, leaf in jax.tree_util.tree_flatten_with_path(
               params, is_leaf=lambda x: isinstance(x, dict) and 'kernel' in x)[0]}
  seen = []

  def recording(x, p, *, stride=1, same=True, relu=True, impl='auto'):
    seen.append(Conv(names.get(id(p['kernel']), 'conv (grayscale-folded)'), x.shape,
                     p['kernel'].shape, stride, same))
    return inception._conv(  # pylint: disable=protected-access
        x, p, stride=stride, same=same, relu=relu, impl=impl)

  inception.apply(params, jnp.zeros((1, size, size, 3), jnp.uint8), conv_fn=recording)
  return seen


def median_ms(fn, reps, min_time=0.2):
  """Median over `reps` timed blocks of one call of fn, in ms (each block >= min_time s)."""
  jax.block_until_ready(fn())
  t = time.perf_counter()
  jax.block_until_ready(fn())
  calls = max(1, int(min_time / max(time.perf_counter() - t, 1e-6)))
  times = []
  for _ in range(reps):
    t = time.perf_counter()
    for _ in range(calls):
      out = fn()
    jax.block_until_ready(out)
    times.append((time.perf_counter() - t) / calls * 1e3)
  return statistics.median(times)


def conv_flops(c, batch):
  kh, kw, cin, cout = c.kernel
  _, h, w, _ = c.shape
  pad_h, pad_w = (kh // 2 * 2, kw // 2 * 2) if c.same else (0, 0)
  ho, wo = (h + pad_h - kh) // c.stride + 1, (w + pad_w - kw) // c.stride + 1
  return 2 * batch * ho * wo * kh * kw * cin * cout


def torch_conv_ms(c, batch, reps):
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(len(os.sched_getaffinity(0)))
  kh, kw, cin, cout = c.kernel
  x = torch.randn(batch, c.shape[1], c.shape[2], cin).permute(0, 3, 1, 2)  # channels-last
  w = torch.randn(cout, cin, kh, kw).contiguous(memory_format=torch.channels_last)
  pad = (kh // 2, kw // 2) if c.same else 0
  with torch.no_grad():
    return median_ms(lambda: torch.nn.functional.conv2d(x, w, stride=c.stride, padding=pad),
                     reps)


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--batch', type=int, default=50)
  parser.add_argument('--size', type=int, default=299)
  parser.add_argument('--reps', type=int, default=3)
  parser.add_argument('--torch', action=argparse.BooleanOptionalAction, default=True)
  parser.add_argument('--ynn', action='store_true',
                      help="Compile with XLA:CPU's default YNNPACK fusions, not "
                      'inception.COMPILER_OPTIONS (what FID uses on CPU).')
  parser.add_argument('--out', default=None)
  args = parser.parse_args()
  options = None if args.ynn else inception.COMPILER_OPTIONS
  try:
    import torch  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    args.torch = False

  params = inception.load_inception_params()
  convs = record_convs(params, args.size)
  lines = [f'# Inception-V3 per-conv profile, batch {args.batch}, {args.size}x{args.size}', '',
           f'jax {jax.__version__} ({jax.devices()[0].platform}), '
           f'{len(os.sched_getaffinity(0))} cores, XLA_FLAGS={os.environ.get("XLA_FLAGS")!r}, '
           f'compiler_options={options!r}. '
           f'Median of {args.reps} timed blocks per cell, ms per batch (GFLOP/s).', '']
  head = ['layer', 'input', 'kernel', 's', 'GFLOP', *inception.CONV_IMPLS, 'auto']
  head += ['torch'] if args.torch else []
  lines += ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
  print('\n'.join(lines), flush=True)
  total_auto = total_best = total_torch = 0.0
  for c in convs:
    kernel = jnp.asarray(np.random.default_rng(0).normal(size=c.kernel), jnp.float32) * 0.05
    p = {'kernel': kernel, 'bias': jnp.zeros(c.kernel[-1], jnp.float32)}
    x = jnp.asarray(np.random.default_rng(1).normal(size=(args.batch, *c.shape[1:])), jnp.float32)
    gflop = conv_flops(c, args.batch) / 1e9
    cells, times = [], {}
    for impl in inception.CONV_IMPLS:
      f = jax.jit(lambda x, p, impl=impl: inception._conv(  # pylint: disable=protected-access
          x, p, stride=c.stride, same=c.same, impl=impl), compiler_options=options)
      times[impl] = median_ms(lambda f=f: f(x, p), args.reps)
      cells.append(f'{times[impl]:.1f} ({gflop / times[impl] * 1e3:.0f})')
    auto = inception.pick_impl(c.kernel, c.stride, size=c.shape[2])
    total_auto += times[auto]
    total_best += min(times.values())
    row = [c.name, 'x'.join(map(str, c.shape[1:])), 'x'.join(map(str, c.kernel)), str(c.stride),
           f'{gflop:.2f}', *cells, auto]
    if args.torch:
      t = torch_conv_ms(c, args.batch, args.reps)
      total_torch += t
      row.append(f'{t:.1f} ({gflop / t * 1e3:.0f})')
    lines.append('| ' + ' | '.join(row) + ' |')
    print(lines[-1], flush=True)

  apply = jax.jit(inception.apply, compiler_options=options)
  images = jnp.asarray(np.random.default_rng(2).integers(
      0, 256, (args.batch, args.size, args.size, 3), np.uint8))
  whole = median_ms(lambda: apply(params, images), args.reps)
  total_gflop = sum(conv_flops(c, args.batch) for c in convs) / 1e9
  a = jnp.ones((4096, 4096), jnp.float32)
  dot = jax.jit(jnp.dot)
  peak = 2 * 4096**3 / 1e9 / median_ms(lambda: dot(a, a), args.reps) * 1e3
  summary = [
      '', f'Convs: {total_gflop:.1f} GFLOP per batch ({total_gflop / args.batch:.2f} per image).',
      f'float32 matmul peak (4096^2 jnp.dot): {peak:.0f} GFLOP/s.', '',
      '| | ms per batch | images/s | GFLOP/s | % of peak |', '|---|---|---|---|---|']
  for name, t in [('sum of convs, auto', total_auto), ('sum of convs, best impl', total_best),
                  *([('sum of convs, torch', total_torch)] if args.torch else []),
                  ('whole forward (jit apply)', whole)]:
    summary.append(f'| {name} | {t:.0f} | {args.batch / t * 1e3:.1f} | '
                   f'{total_gflop / t * 1e3:.0f} | {100 * total_gflop / t * 1e3 / peak:.0f} |')
  lines += summary
  print('\n'.join(summary), flush=True)
  if args.out:
    with open(args.out, 'w') as f:
      f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
  main()
