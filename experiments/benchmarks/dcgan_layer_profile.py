"""The 28x28 DCGAN train step taken apart: every layer's forward pass, input gradient and
weight gradient, timed alone in XLA (jit) and in PyTorch, alternated rep by rep.

The layers are those of `configs/dcgan.py` (width 64, kernel 4) at their shapes in the step: G's
projection, BatchNorms and two stride-2 upsamplings (`Upsample`'s CPU default, 'dot_grad'; torch's
ConvTranspose2d), D's two stride-2 convs (D's CPU default `models.conv`, and its wide conv
again with XLA's own backward), BatchNorm and output layer; above batch 64 the two wide layers
again on batch chunks of 64 in sequence (`lax.map`). JAX's input and weight
gradients are each one jitted VJP (XLA drops the forward work a gradient does not need); torch's
are `torch.nn.grad.conv2d_input/conv2d_weight` for convs (its own backward kernels) and autograd
through a retained graph for the rest. A step runs each layer's forward twice (D sees real and fake) and
its gradients in both players' updates, so the table is a profile of where time goes, not a sum
that equals the step. NHWC in JAX, NCHW (torch's default) in torch.

  python experiments/benchmarks/dcgan_layer_profile.py --batch=256 \\
      --out=experiments/benchmarks/dcgan_layer_profile.md
  python experiments/benchmarks/dcgan_layer_profile.py --batch=64 --only="D conv 14x14x64"
"""
import argparse
import os
import statistics
import sys
import time

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # See gan_step_bench.py.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp
import numpy as np

from gan_jax import winograd, xla_cpu  # pylint: disable=g-import-not-at-top
from gan_jax.models import conv, layers  # pylint: disable=g-import-not-at-top
from gan_jax.models.upsample import conv_transpose_dot_grad

DN = ('NHWC', 'HWIO', 'NHWC')


def _conv(x, w):  # flax nn.Conv, kernel 4, stride 2, SAME (pads 1 and 2 -> torch padding 1).
  # D's CPU default (`conv_impl='auto'`): lax's conv, its own backward where the input is wide.
  return conv.conv_general_dilated(x, w, (2, 2), 'SAME', dimension_numbers=DN)


def _conv_xla(x, w):  # The same conv with XLA's own backward (conv_impl='xla').
  return jax.lax.conv_general_dilated(x, w, (2, 2), 'SAME', dimension_numbers=DN)


def _conv_winograd(tile):
  """The same conv as a stride-1 2x2 conv of the 2x2 space-to-depth input (4 x the channels),
  by Winograd F(tile, 2) tiles (`gan_jax.winograd`), its backward by autodiff (batched dots):
  F(2, 2) does 9 products per 4 outputs where the direct conv does 16."""
  def fn(x, w):
    n, h, wd, c = x.shape  # SAME for kernel 4, stride 2 pads (1, 1) on even sizes.
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    xs = xp.reshape(n, h // 2 + 1, 2, wd // 2 + 1, 2, c).transpose(0, 1, 3, 2, 4, 5)
    ws = w.reshape(2, 2, 2, 2, c, -1).transpose(0, 2, 1, 3, 4, 5).reshape(2, 2, 4 * c, -1)
    return winograd.conv(xs.reshape(*xs.shape[:3], 4 * c), ws, ((0, 0), (0, 0)), tile=tile,
                         precision=None)
  return fn


def _batch_chunks(fn, size):
  """fn over the batch in chunks of `size` examples, one after another (`lax.map`): whether the
  wide layers' superlinear growth with the batch is a cache effect that smaller calls avoid."""
  def chunked(x, w):
    y = jax.lax.map(lambda xc: fn(xc, w), x.reshape(-1, size, *x.shape[1:]))
    return y.reshape(x.shape[0], *y.shape[2:])
  return chunked


def _bn(x, scale_bias):
  scale, bias = scale_bias
  return layers.batch_norm(True, None).apply(
      {'params': {'scale': scale, 'bias': bias},
       'batch_stats': {'mean': jnp.zeros_like(scale), 'var': jnp.ones_like(scale)}},
      x, mutable=['batch_stats'])[0]


def jax_layers(b):
  """name -> (fn(x, w), x shape, w shapes), NHWC."""
  up = lambda x, w: conv_transpose_dot_grad(x, w, (2, 2), "SAME")  # noqa: E731
  chunk = 64
  chunked = {} if b <= chunk or b % chunk else {
      f'G upsample 7x7x128->14x14x64, batch chunks of {chunk}': (
          _batch_chunks(up, chunk), (b, 7, 7, 128), (4, 4, 128, 64)),
      f'D conv 14x14x64->7x7x128, batch chunks of {chunk}': (
          _batch_chunks(_conv, chunk), (b, 14, 14, 64), (4, 4, 64, 128))}
  return {
      'G dense 100->6272': (lambda x, w: x @ w, (b, 100), (100, 6272)),
      'G BN 7x7x128': (_bn, (b, 7, 7, 128), ((128,), (128,))),
      'G upsample 7x7x128->14x14x64': (up, (b, 7, 7, 128), (4, 4, 128, 64)),
      'G BN 14x14x64': (_bn, (b, 14, 14, 64), ((64,), (64,))),
      'G upsample 14x14x64->28x28x1': (up, (b, 14, 14, 64), (4, 4, 64, 1)),
      'D conv 28x28x1->14x14x64': (_conv, (b, 28, 28, 1), (4, 4, 1, 64)),
      'D conv 14x14x64->7x7x128': (_conv, (b, 14, 14, 64), (4, 4, 64, 128)),
      'D conv 14x14x64->7x7x128, XLA backward': (_conv_xla, (b, 14, 14, 64), (4, 4, 64, 128)),
      **{f'D conv 14x14x64->7x7x128, Winograd F({t}, 2)': (
          _conv_winograd(t), (b, 14, 14, 64), (4, 4, 64, 128)) for t in (2, 4)},
      'D BN 7x7x128': (_bn, (b, 7, 7, 128), ((128,), (128,))),
      'D dense 6272->1': (lambda x, w: x @ w, (b, 6272), (6272, 1)),
      **chunked,
  }


def _random(shape, seed):
  if isinstance(shape[0], tuple):
    return tuple(_random(s, seed + i) for i, s in enumerate(shape))
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32) * 0.1


def jax_parts(fn, x_shape, w_shape, options=None):
  """{'fwd', 'dx', 'dw'}: zero-argument callables, each one jitted computation compiled with
  `options` (the train step's: xla_cpu.KERNELS)."""
  x, w = _random(x_shape, 0), _random(w_shape, 1)
  g = _random(jax.eval_shape(fn, x, w).shape, 2)
  jit = lambda f: jax.jit(f, compiler_options=options)  # noqa: E731
  fwd = jit(fn)
  dx = jit(lambda x, w, g: jax.vjp(lambda x: fn(x, w), x)[1](g)[0])
  dw = jit(lambda x, w, g: jax.vjp(lambda w: fn(x, w), w)[1](g)[0])
  return {'fwd': lambda: fwd(x, w), 'dx': lambda: dx(x, w, g), 'dw': lambda: dw(x, w, g)}


def torch_parts(name, b):
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top
  F, G = torch.nn.functional, torch.nn.grad
  torch.manual_seed(0)
  if 'dense' in name:
    n_in, n_out = (100, 6272) if name.startswith('G') else (6272, 1)
    layer, x = nn.Linear(n_in, n_out, bias=False), torch.randn(b, n_in)
  elif 'BN' in name:
    c, hw = (128, 7) if '128' in name else (64, 14)
    layer, x = nn.BatchNorm2d(c), torch.randn(b, c, hw, hw)
  elif 'upsample' in name:
    cin, cout, hw = (128, 64, 7) if '128' in name else (64, 1, 14)
    layer, x = nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), torch.randn(b, cin, hw, hw)
  else:
    cin, cout, hw = (1, 64, 28) if '28x28' in name else (64, 128, 14)
    layer, x = nn.Conv2d(cin, cout, 4, 2, 1, bias=False), torch.randn(b, cin, hw, hw)
  x.requires_grad_(True)
  w = layer.weight
  with torch.no_grad():
    g = torch.randn_like(layer(x))
  if isinstance(layer, nn.Conv2d):
    dx = lambda: G.conv2d_input(x.shape, w, g, stride=2, padding=1)  # noqa: E731
    dw = lambda: G.conv2d_weight(x, w.shape, g, stride=2, padding=1)  # noqa: E731
  elif isinstance(layer, nn.ConvTranspose2d):  # Its input gradient is a conv; weight: swapped.
    dx = lambda: F.conv2d(g, w, stride=2, padding=1)  # noqa: E731
    dw = lambda: G.conv2d_weight(g, w.shape, x, stride=2, padding=1)  # noqa: E731
  else:  # Autograd's backward through a graph built once (retained), so no forward is timed.
    y = layer(x)
    dx = lambda: torch.autograd.grad(y, x, g, retain_graph=True)[0]  # noqa: E731
    dw = lambda: torch.autograd.grad(y, w, g, retain_graph=True)[0]  # noqa: E731
  def fwd():
    with torch.no_grad():
      return layer(x)
  return {'fwd': fwd, 'dx': dx, 'dw': dw}


def alternate(fns, reps, min_time=0.1):
  """Median ms per call of each zero-argument callable, alternated rep by rep."""
  def block(f, calls):
    t = time.perf_counter()
    for _ in range(calls):
      out = f()
    jax.block_until_ready(out) if isinstance(out, jax.Array) else None
    return (time.perf_counter() - t) / calls * 1e3
  calls = {}
  for k, f in fns.items():
    block(f, 1)
    calls[k] = max(1, int(min_time * 1e3 / max(block(f, 1), 1e-3)))
  times = {k: [] for k in fns}
  for _ in range(reps):
    for k, f in fns.items():
      times[k].append(block(f, calls[k]))
  return {k: statistics.median(v) for k, v in times.items()}


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--batch', type=int, default=256)
  parser.add_argument('--reps', type=int, default=7)
  parser.add_argument('--out', default=None)
  parser.add_argument('--only', default='', help='time only layers whose name contains this')
  parser.add_argument('--kernels', default='xla_convs', choices=list(xla_cpu.KERNELS),
                      help="XLA:CPU's kernels, as the train step's config.xla_cpu_kernels")
  args = parser.parse_args()
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(len(os.sched_getaffinity(0)))
  lines = [f'# DCGAN (28x28, width 64) per-layer profile, batch {args.batch}', '',
           f'jax {jax.__version__}, torch {torch.__version__}, {torch.get_num_threads()} threads; '
           f'median ms of {args.reps} alternated reps; JAX compiled with xla_cpu_kernels='
           f'{args.kernels}. ratio = torch ms / JAX ms (> 1: JAX faster).', '',
           '| layer | part | JAX ms | torch ms | ratio |', '|---|---|---|---|---|']
  print('\n'.join(lines), flush=True)
  totals = {'jax': 0.0, 'torch': 0.0}
  for name, (fn, xs, ws) in jax_layers(args.batch).items():
    if args.only not in name:
      continue
    j = jax_parts(fn, xs, ws, xla_cpu.KERNELS[args.kernels])
    t = torch_parts(name.split(',')[0], args.batch)
    ms = alternate({**{('jax', k): j[k] for k in j},
                    **{('torch', k): t[k] for k in ('fwd', 'dx', 'dw')}}, args.reps)
    for part in ('fwd', 'dx', 'dw'):
      tj, tt = ms[('jax', part)], ms[('torch', part)]
      if ',' not in name:  # Variants (the 'before' rows) stay out of the totals.
        totals['jax'] += tj
        totals['torch'] += tt
      lines.append(f'| {name} | {part} | {tj:.2f} | {tt:.2f} | {tt / tj:.2f} |')
      print(lines[-1], flush=True)
  if not args.only:
    lines.append(f'| all layers | fwd + dx + dw | {totals["jax"]:.1f} | {totals["torch"]:.1f} | '
                 f'{totals["torch"] / totals["jax"]:.2f} |')
    print(lines[-1], flush=True)
  if args.out:
    with open(args.out, 'w') as f:
      f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
  main()
