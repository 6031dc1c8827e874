"""The figures on a GPU: the DCGAN train step in JAX and PyTorch on the same card, and FID's
Inception-V3 in images/s.

The train step is gan_step_bench's: the package's `steps.train_step` jitted with the state
donated, against the same nets in PyTorch (parameter counts asserted equal), alternated rep by
rep. Two precisions: 'tf32', each framework's default on an Ampere-or-newer card (XLA's float32
convs and dots, cuDNN's convs and, switched on here, torch's matmuls in TF32), and 'fp32',
full float32 in both (`jax_default_matmul_precision='highest'`; torch's TF32 off). Inception
runs as `inception.apply` does for FID (every conv at Precision.HIGHEST) on random weights of
the real shapes (`--inception_shapes`, written by `--write_shapes` where the weights are: the
weights file is too large to carry): the same arithmetic, so the same speed.

  python experiments/benchmarks/gpu_bench.py --write_shapes=/tmp/inception_shapes.json   # here
  python experiments/benchmarks/gpu_bench.py --inception_shapes=/tmp/inception_shapes.json \\
      --out=experiments/benchmarks/gpu_results.md                                      # on the GPU
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp
import numpy as np

from experiments.benchmarks import gan_step_bench as bench  # pylint: disable=g-import-not-at-top
from experiments.benchmarks import torch_step  # pylint: disable=g-import-not-at-top
from experiments.benchmarks.inception_profile import median_ms  # pylint: disable=g-import-not-at-top


def write_shapes(path):
  from gan_jax import data_dir  # pylint: disable=g-import-not-at-top
  from gan_jax.evaluation import inception  # pylint: disable=g-import-not-at-top
  npz = np.load(data_dir.find(inception.WEIGHTS_FILE) / inception.WEIGHTS_FILE)
  with open(path, 'w') as f:
    json.dump({k: list(npz[k].shape) for k in npz.files}, f)


def random_inception(shapes_path, tmp):
  """`inception.load_inception_params` of random weights with the real shapes."""
  from gan_jax.evaluation import inception  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  arrays = {}
  for key, shape in json.load(open(shapes_path)).items():
    if key.endswith('.var'):
      arrays[key] = np.ones(shape, np.float32)
    elif key.endswith('.weight'):  # He-scaled, so activations keep their size through the net.
      fan_in = int(np.prod(shape[1:]))
      arrays[key] = (rng.standard_normal(shape) * np.sqrt(2 / fan_in)).astype(np.float32)
    else:
      arrays[key] = np.zeros(shape, np.float32)
  path = os.path.join(tmp, 'inception_random.npz')
  np.savez(path, **arrays)
  return inception.load_inception_params(path)


def step_flops(net, batch):
  """FLOPs of one train step from XLA's cost analysis of the program lowered for the CPU, in a
  child process (a GPU's lowered program reports no cost, and its compiled one counts cuDNN's
  convs as nothing). G's upsampling is counted as lax's transposed conv, whose count has no
  zero taps, whichever form runs: the sub-pixel form's extra work does not count as speed."""
  out = subprocess.run(
      [sys.executable, os.path.abspath(__file__), f'--count_flops={net}:{batch}'],
      env={**os.environ, 'JAX_PLATFORMS': 'cpu'}, capture_output=True, text=True, check=True)
  return float(out.stdout.split('FLOPS')[1])


def count_flops(net, batch):
  from gan_jax import steps  # pylint: disable=g-import-not-at-top
  config, shape = bench.get_config(net, int(batch))
  config.dcgan.upsample_impl, config.dcgan.conv_impl = 'conv_transpose', 'xla'
  state, jbatch = bench.jax_state(config, shape), bench.jax_batch(shape, int(batch))
  cost = jax.jit(steps.make_train_step(config, axis_name=None)).lower(state, jbatch).cost_analysis()
  print('FLOPS', (cost[0] if isinstance(cost, (list, tuple)) else cost)['flops'])


def torch_device():
  import torch  # pylint: disable=g-import-not-at-top
  return 'cuda' if torch.cuda.is_available() else 'cpu'  # cpu: a dry run of the script.


def set_torch_precision(torch, precision):
  tf32 = precision == 'tf32'
  torch.backends.cuda.matmul.allow_tf32 = tf32
  torch.backends.cudnn.allow_tf32 = tf32


def section_peak(args, ctx):
  import torch  # pylint: disable=g-import-not-at-top
  n = args.peak_n
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n))
  b = jax.random.normal(jax.random.PRNGKey(1), (n, n))
  lines = [f'## Matmul peak ({n} x {n}, median of reps)', '',
           '| framework | dtype / precision | TFLOP/s |', '|---|---|---|']
  for name, prec, dtype in [('fp32', 'highest', jnp.float32), ('tf32', 'default', jnp.float32),
                            ('bf16', 'default', jnp.bfloat16)]:
    x, y = a.astype(dtype), b.astype(dtype)
    dot = jax.jit(lambda x, y, prec=prec: jnp.dot(x, y, precision=prec))
    s = median_ms(lambda x=x, y=y: dot(x, y), args.reps, min_time=0.3) / 1e3
    ctx[f'jax_{name}'] = 2 * n ** 3 / s / 1e12
    lines.append(f'| jax | {name} | {ctx[f"jax_{name}"]:.1f} |')
  ta = torch.randn(n, n, device=torch_device())
  tb = torch.randn(n, n, device=torch_device())
  # Returns None for median_ms's block_until_ready, once the GPU is done.
  sync = (lambda _: torch.cuda.synchronize()) if torch.cuda.is_available() else lambda _: None
  for name in ('fp32', 'tf32'):
    set_torch_precision(torch, name)
    s = median_ms(lambda: sync(torch.mm(ta, tb)), args.reps, min_time=0.3) / 1e3
    lines.append(f'| torch | {name} | {2 * n ** 3 / s / 1e12:.1f} |')
  return lines


def section_steps(args, ctx):
  import torch  # pylint: disable=g-import-not-at-top
  lines = ['## Train step (1 D + 1 G update): JAX vs PyTorch on the same GPU, alternated', '',
           f'{args.reps} reps of ~{args.rep_seconds} s per framework after warm-up; median. '
           'FLOPs from XLA\'s cost analysis of the lowered JAX step (`step_flops`); % of the JAX '
           'matmul peak of the same precision above.', '',
           '| net | batch | precision | JAX steps/s | torch steps/s | JAX/torch | JAX ms | '
           'torch ms | GFLOP/step | JAX TFLOP/s | % peak | compile s |',
           '|---|---|---|---|---|---|---|---|---|---|---|---|']
  for row in args.steps:
    net, batch, precision = row.split(':')
    batch = int(batch)
    config, shape = bench.get_config(net, batch)
    with jax.default_matmul_precision('highest' if precision == 'fp32' else 'default'):
      compiled, state, jbatch, _, t_compile = bench.compile_step(config, shape)
    flops = step_flops(net, batch)
    counts = (bench.count(state.g_params), bench.count(state.d_params))
    set_torch_precision(torch, precision)
    step = torch_step.TorchStep(net, config, shape, device=torch_device())
    assert step.num_params == counts, (net, step.num_params, counts)
    runners = {'jax': bench.jax_runner(compiled, state, jbatch),
               'torch': torch_step.torch_runner(step, 1)}
    per_step, _ = bench.alternate(runners, args.reps, args.rep_seconds)
    j, t = (statistics.median(per_step[k]) for k in ('jax', 'torch'))
    achieved = flops / j / 1e12
    peak = ctx.get(f'jax_{precision}', float('nan'))
    lines.append(f'| {net} | {batch} | {precision} | {1 / j:,.1f} | {1 / t:,.1f} | {t / j:.2f} | '
                 f'{j * 1e3:.2f} | {t * 1e3:.2f} | {flops / 1e9:.2f} | {achieved:.1f} | '
                 f'{100 * achieved / peak:.1f} | {t_compile:.1f} |')
    print(lines[-1], flush=True)
    del compiled, state, runners, step
  return lines


def section_inception(args, ctx):
  import tempfile  # pylint: disable=g-import-not-at-top
  from gan_jax.evaluation import inception  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as tmp:
    params = random_inception(args.inception_shapes, tmp)
  size = args.inception_size
  lines = [f'## FID Inception-V3 at {size}x{size}, RGB, every conv at Precision.HIGHEST', '',
           '`impl`: inception.apply\'s conv choice (\'auto\' is tuned for XLA:CPU; \'xla\': '
           'lax.conv everywhere). 10k images: the time a 10,000-sample FID spends in Inception.',
           '', '| impl | batch | images/s | TFLOP/s | % fp32 peak | 10k images s | compile s |',
           '|---|---|---|---|---|---|---|']
  gflop = 11.42 * (size / 299) ** 2  # 2 x multiply-adds per 299x299 image (inception_speed.py).
  for row in args.inception:
    impl, batch = row.split(':')
    batch = int(batch)
    images = jnp.asarray(np.random.default_rng(0).integers(0, 256, (batch, size, size, 3),
                                                           np.uint8))
    fn = jax.jit(lambda p, x, impl=impl: inception.apply(p, x, impl=impl))
    t = time.perf_counter()
    jax.block_until_ready(fn(params, images))
    t_compile = time.perf_counter() - t
    s = median_ms(lambda: fn(params, images), args.reps, min_time=0.3) / 1e3
    rate = batch / s
    tflops = rate * gflop / 1e3
    lines.append(f'| {impl} | {batch} | {rate:,.0f} | {tflops:.1f} | '
                 f'{100 * tflops / ctx.get("jax_fp32", float("nan")):.0f} | {1e4 / rate:.1f} | '
                 f'{t_compile:.1f} |')
    print(lines[-1], flush=True)
  return lines


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  csv = lambda s: [x for x in s.split(',') if x]  # noqa: E731
  parser.add_argument('--write_shapes', default='')
  parser.add_argument('--count_flops', default='', help='internal: net:batch, in a child')
  parser.add_argument('--inception_shapes', default='')
  parser.add_argument('--inception_size', type=int, default=299)
  parser.add_argument('--steps', type=csv, default='dcgan64:64:tf32,dcgan64:256:tf32,'
                      'dcgan64_convT:256:tf32,dcgan64:256:fp32,dcgan:256:tf32')
  parser.add_argument('--inception', type=csv, default='xla:50,xla:250,auto:250')
  parser.add_argument('--sections', type=csv, default='peak,steps,inception')
  parser.add_argument('--peak_n', type=int, default=8192)
  parser.add_argument('--reps', type=int, default=5)
  parser.add_argument('--rep_seconds', type=float, default=0.5)
  parser.add_argument('--out', default='')
  args = parser.parse_args()
  if args.count_flops:
    count_flops(*args.count_flops.split(':'))
    return
  if args.write_shapes:
    write_shapes(args.write_shapes)
    return
  import torch  # pylint: disable=g-import-not-at-top
  device = jax.devices()[0]
  lines = ['# GAN train step and FID Inception on a GPU', '',
           f'`{" ".join(["python", *sys.argv])}`', '',
           f'jax {jax.__version__} on {device.device_kind} ({jax.default_backend()}), '
           f'torch {torch.__version__}'
           f' on {torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"}.', '']
  print('\n'.join(lines), flush=True)
  ctx = {}
  for name in args.sections:
    try:
      section = globals()[f'section_{name}'](args, ctx)
    except Exception as e:  # pylint: disable=broad-except
      section = [f'## {name}: failed', '', f'`{type(e).__name__}: {e}`'[:2000]]
    print('\n'.join(section + ['']), flush=True)
    lines += section + ['']
    if args.out:
      with open(args.out, 'w') as f:
        f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
  main()
