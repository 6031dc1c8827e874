"""Side by side: one GAN train step (1 D update, 1 G update) in JAX and in PyTorch on this CPU.

JAX runs the package's own `steps.train_step`, jitted with the state donated; PyTorch runs the
same nets (parameter counts asserted equal), the same losses (BCE with logits for D, the
non-saturating -log D(G(z)) for G), Adam(2e-4, b1=0.5), fresh z for each update, with as many
threads as JAX's CPU client uses. The two alternate rep by rep in one process, so load from other
jobs on a shared machine hits both alike; the table reports medians over reps and their ratio.

Beside the table: XLA's FLOPs per step and the achieved fraction of a measured float32 matmul
peak, compile time, first-step latency in fresh processes with a cold and a warm persistent
compilation cache, peak memory of a process doing steps, steps_per_call (unrolled vs lax.scan),
and throughput over 1/2/4/8 simulated CPU devices (pmap). Not a test; run e.g.

  python experiments/benchmarks/gan_step_bench.py                        # all, ~15-25 min
  python experiments/benchmarks/gan_step_bench.py --nets=vanilla --batches=64 --reps=3 \\
      --sections=throughput --out=/tmp/quick.md                          # ~1 min

Needs `pip install -r requirements-bench.txt` (PyTorch, CPU build) for the torch columns.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

# Before torch starts its OpenMP pool: with other jobs on these cores, threads spinning at
# OpenMP barriers wait for a descheduled sibling; a 2-thread torch MLP step measured 1.1 s
# spinning vs 40 ms passive (31 ms with 1 thread). XLA's thread pool does not barrier that way.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)  # `configs` and `gan_jax` import from the repository root.

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp
import numpy as np

from experiments.benchmarks import torch_step  # pylint: disable=g-import-not-at-top
from experiments.benchmarks.torch_step import num_threads  # pylint: disable=g-import-not-at-top

# name -> (config module, data shape (H, W, C), config overrides)
NETS = {
    'dcgan': ('dcgan', (28, 28, 1), {}),
    'dcgan_seed32': ('dcgan_seed32', (32, 32, 1), {}),
    'vanilla': ('vanilla', (28, 28, 1), {}),
    # The before of the sub-pixel Upsample: plain lax.conv_transpose, what nn.ConvTranspose does.
    'dcgan_convT': ('dcgan', (28, 28, 1), {'dcgan.upsample_impl': 'conv_transpose'}),
    # The sub-pixel form that was the CPU default before 'dot_grad'.
    'dcgan_subpixel': ('dcgan', (28, 28, 1), {'dcgan.upsample_impl': 'subpixel'}),
    # D's strided convs with XLA's own backward, the CPU default before models.conv.
    'dcgan_xla_conv': ('dcgan', (28, 28, 1), {'dcgan.conv_impl': 'xla'}),
    # The step compiled to YNNPACK's dot and conv kernels, XLA:CPU's default (gan_jax/xla_cpu.py).
    'dcgan_ynnpack': ('dcgan', (28, 28, 1), {'xla_cpu_kernels': 'ynnpack'}),
    # G's update on the D update's fakes, their forward pass reused (config.reuse_fakes; torch too).
    'dcgan_reuse': ('dcgan', (28, 28, 1), {'reuse_fakes': True}),
    # The paper's 64x64 DCGAN on RGB (4 upsamplings, 512 maps at 4x4), as in PyTorch's example.
    'dcgan64': ('faces64', (64, 64, 3), {'dcgan.width': 64}),
    'dcgan64_subpixel': ('faces64', (64, 64, 3), {'dcgan.width': 64,
                                                  'dcgan.upsample_impl': 'subpixel'}),
    'dcgan64_convT': ('faces64', (64, 64, 3), {'dcgan.width': 64,
                                               'dcgan.upsample_impl': 'conv_transpose'}),
}
SECTIONS = ('peak', 'throughput', 'multi_step', 'cache', 'memory', 'scaling')


def rss_mb():
  """This process's peak RSS. Not getrusage's ru_maxrss: Linux carries that over fork and exec,
  so every child reported the parent's 1.5 GB; VmHWM belongs to the new address space."""
  with open('/proc/self/status') as f:
    return next(int(l.split()[1]) for l in f if l.startswith('VmHWM:')) / 1024  # kB -> MiB


def count(tree):
  return sum(int(np.size(x)) for x in jax.tree.leaves(tree))


def get_config(net, batch):
  module, shape, overrides = NETS[net]
  config = __import__(f'configs.{module}', fromlist=['get_config']).get_config()
  config.batch_size = batch
  for key, value in overrides.items():
    target, *path = config, *key.split('.')
    for p in path[:-1]:
      target = target[p]
    target[path[-1]] = value
  return config, shape


def num_classes(config):
  """The classes a config's G and D are conditioned on, counted as the trainer counts them
  (validation.validate_data: its clusters, else the data's labels), for MNIST's 10 labels."""
  from gan_jax import validation  # pylint: disable=g-import-not-at-top
  return validation.validate_data(config, {'label': 0, 'num_classes': 10})


def jax_state(config, shape, axis_name=None):
  from gan_jax import checkpoints  # pylint: disable=g-import-not-at-top
  k = num_classes(config)
  state = checkpoints.create_train_state(config, data_shape=shape, num_classes=k,
                                         axis_name=axis_name,
                                         label_probs=np.full((k,), 1 / k) if k else None)
  # With an EMA of G the average starts as G's own arrays: donating the state would donate one
  # buffer twice.
  return jax.tree.map(jnp.copy, state)


def jax_batch(shape, batch, lead=(1,), classes=0):
  """Uniform images and, for a conditional net (`classes` > 0), labels cycling through them."""
  image = jax.random.uniform(jax.random.PRNGKey(1), (*lead, batch, *shape), minval=-1, maxval=1)
  label = jnp.arange(batch, dtype=jnp.int32) % max(classes, 1)
  label = jnp.broadcast_to(label, (*lead, batch))
  return {'image': image, 'label': label}


def compile_step(config, shape, steps_per_call=0, unroll=True, regularize=True, state=None):
  """(compiled step, state, batch, lower s, compile s). steps_per_call=0: plain train_step;
  `regularize`: steps.make_train_step's (lazy R1); `state`: another compilation's, to share."""
  from gan_jax import multi_step, steps, xla_cpu  # pylint: disable=g-import-not-at-top
  state = jax_state(config, shape) if state is None else state
  if steps_per_call:
    fn = multi_step.make_multi_step(config, steps_per_call, axis_name=None, unroll=unroll)
    batch = jax_batch(shape, config.batch_size, (steps_per_call, 1), num_classes(config))
  else:
    fn = steps.make_train_step(config, axis_name=None, regularize=regularize)
    batch = jax_batch(shape, config.batch_size, classes=num_classes(config))
  t0 = time.perf_counter()
  lowered = jax.jit(fn, donate_argnums=(0,)).lower(state, batch)
  t1 = time.perf_counter()
  # The kernels the trainer compiles this config's step to (train.parallelize).
  compiled = lowered.compile(compiler_options=xla_cpu.step_options(config))
  return compiled, state, batch, t1 - t0, time.perf_counter() - t1


# ----------------------------------------------------------------------------------------------
# Timing.

def config_runner(config):
  """`jax_runner` of `config`'s train step as the trainer compiles it, on grayscale images of
  the config's size (what the benchmarks that vary one config field time)."""
  compiled, state, batch, _, _ = compile_step(config, (config.image_size, config.image_size, 1))
  return jax_runner(compiled, state, batch)


def jax_runner(compiled, state, batch):
  """run(n) -> seconds for n steps, the state carried (and donated) from call to call."""
  carry = {'state': state}

  def run(n):
    t0 = time.perf_counter()
    for _ in range(n):
      carry['state'], metrics = compiled(carry['state'], batch)
    jax.block_until_ready((carry['state'], metrics))
    return time.perf_counter() - t0
  return run


def steps_for(runner, target_s, min_steps=1):
  """Warms up (2 steps) and returns how many steps take about `target_s` (at least 1)."""
  runner(1)
  one = runner(1)
  return max(min_steps, int(round(target_s / max(one, 1e-6))))


def alternate(runners, reps, target_s):
  """{name: [seconds per step, one per rep]}; runners take turns each rep, order flipped every
  other rep so neither always runs right after the other's memory traffic."""
  counts = {name: steps_for(r, target_s) for name, r in runners.items()}
  per_step = {name: [] for name in runners}
  names = list(runners)
  for rep in range(reps):
    for name in (names if rep % 2 == 0 else names[::-1]):
      per_step[name].append(runners[name](counts[name]) / counts[name])
  return per_step, counts


def matmul_peak(reps, n=4096, with_torch=True):
  """Median and best GFLOP/s of an n x n float32 matmul, JAX and (if installed) torch."""
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n))
  b = jax.random.normal(jax.random.PRNGKey(1), (n, n))
  dot = jax.jit(jnp.dot)
  dot(a, b).block_until_ready()
  flops = 2 * n ** 3
  out = {}
  times = []
  for _ in range(reps):
    t0 = time.perf_counter()
    dot(a, b).block_until_ready()
    times.append(time.perf_counter() - t0)
  out['jax'] = (flops / statistics.median(times) / 1e9, flops / min(times) / 1e9)
  if not with_torch:
    return out
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    return out
  torch.set_num_threads(num_threads())
  ta, tb = torch.from_numpy(np.array(a)), torch.from_numpy(np.array(b))
  torch.mm(ta, tb)
  times = []
  for _ in range(reps):
    t0 = time.perf_counter()
    torch.mm(ta, tb)
    times.append(time.perf_counter() - t0)
  out['torch'] = (flops / statistics.median(times) / 1e9, flops / min(times) / 1e9)
  return out


# ----------------------------------------------------------------------------------------------
# Children: fresh processes for what the parent's state would spoil (cache, RSS, device count).

def child_first_step(args):
  """Time from a fresh process's first step call to its result (trace, compile or cache load,
  run), then `args.steps` more steps; prints JSON with the process's peak RSS."""
  rss_import = 0.0
  if args.framework == 'jax':
    if args.cache_dir:
      jax.config.update('jax_compilation_cache_dir', args.cache_dir)
      jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)
      jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)
    from gan_jax import steps  # pylint: disable=g-import-not-at-top
    rss_import = rss_mb()
    config, shape = get_config(args.net, args.batch)
    state = jax_state(config, shape)
    batch = jax_batch(shape, args.batch)
    jax.block_until_ready((state, batch))
    fn = jax.jit(steps.make_train_step(config, axis_name=None), donate_argnums=(0,))
    t0 = time.perf_counter()
    state, metrics = fn(state, batch)
    jax.block_until_ready((state, metrics))
    first = time.perf_counter() - t0
    for _ in range(args.steps):
      state, metrics = fn(state, batch)
    jax.block_until_ready((state, metrics))
  else:
    import torch  # pylint: disable=g-import-not-at-top
    rss_import = rss_mb()
    config, shape = get_config(args.net, args.batch)
    torch.set_num_threads(num_threads())
    step = torch_step.TorchStep(args.net, config, shape)
    t0 = time.perf_counter()
    step()
    first = time.perf_counter() - t0
    for _ in range(args.steps):
      step()
  print('RESULT' + json.dumps({'first_step_s': first, 'rss_import_mb': rss_import,
                               'rss_peak_mb': rss_mb()}))


def child_scaling(args):
  """Steps/s of train.parallelize's pmap step over the devices XLA_FLAGS made (global batch
  fixed, split across them)."""
  from gan_jax import checkpoints, train  # pylint: disable=g-import-not-at-top
  config, shape = get_config(args.net, args.batch)
  config.parallel = 'pmap'
  n = jax.device_count()
  state = checkpoints.create_train_state(config, data_shape=shape, num_classes=0)
  fn, put_state, put_batch = train.parallelize(config)
  pstate = put_state(state)
  host = jax.tree.map(np.asarray, jax_batch(shape, args.batch))
  batch = put_batch(host)
  t0 = time.perf_counter()
  pstate, metrics = fn(pstate, batch)
  jax.block_until_ready((pstate, metrics))
  first = time.perf_counter() - t0
  pstate, metrics = fn(pstate, batch)
  jax.block_until_ready((pstate, metrics))
  times = []
  for _ in range(args.reps):
    t0 = time.perf_counter()
    for _ in range(args.steps):
      pstate, metrics = fn(pstate, batch)
    jax.block_until_ready((pstate, metrics))
    times.append((time.perf_counter() - t0) / args.steps)
  print('RESULT' + json.dumps({'devices': n, 'first_step_s': first,
                               'step_s': statistics.median(times)}))


def run_child(argv, env=None, timeout=1800):
  proc = subprocess.run([sys.executable, os.path.abspath(__file__), *argv], cwd=ROOT,
                        env={**os.environ, 'JAX_PLATFORMS': 'cpu', **(env or {})},
                        capture_output=True, text=True, timeout=timeout)
  if proc.returncode or 'RESULT' not in proc.stdout:
    raise RuntimeError(f'child {argv} failed:\n{proc.stderr[-3000:]}')
  return json.loads(proc.stdout.split('RESULT', 1)[1])


# ----------------------------------------------------------------------------------------------
# Sections of the report; each returns markdown lines.

def fmt(x, digits=1):
  return f'{x:,.{digits}f}'


def section_peak(args, ctx):
  peak = matmul_peak(args.peak_reps)
  ctx['peak'] = peak['jax'][1]  # Best of reps: what the cores can do when the machine lets them.
  lines = ['## float32 matmul peak (4096 x 4096, best / median of reps)', '',
           '| framework | best GFLOP/s | median GFLOP/s |', '|---|---|---|']
  for name, (med, best) in peak.items():
    lines.append(f'| {name} | {fmt(best)} | {fmt(med)} |')
  return lines


def plain_lax_flops(config, shape):
  """XLA's FLOP count of `config`'s step with lax's own convs and derivatives."""
  config = config.copy_and_resolve_references()
  config.dcgan.conv_impl = 'xla'
  config.dcgan.upsample_impl = 'conv_transpose'
  return compile_step(config, shape)[0].cost_analysis()['flops']


def section_throughput(args, ctx):
  lines = ['## Train step: JAX (jit, donated state) vs PyTorch, alternated', '',
           f'{args.reps} reps of ~{args.rep_seconds} s each per framework after warm-up; '
           f'median seconds per step. torch threads = {num_threads()} (and 1, its own column), '
           f'OMP_WAIT_POLICY={os.environ["OMP_WAIT_POLICY"]}. FLOPs from XLA\'s cost '
           'analysis of the compiled JAX step; % peak against the best JAX matmul above.', '',
           '| net | batch | JAX steps/s | torch steps/s | JAX/torch | JAX ms/step | '
           'torch ms/step | torch 1-thread ms/step | GFLOP/step | JAX GFLOP/s | % peak | '
           'lax GFLOP/step | % peak, lax FLOPs | lower s | compile s |',
           '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|']
  rows = [(n, b) for n in args.nets for b in args.batches]
  if args.conv_transpose:
    rows.append(('dcgan_convT', args.batches[0]))
  for net, batch in rows:
    config, shape = get_config(net, batch)
    compiled, state, jbatch, t_lower, t_compile = compile_step(config, shape)
    flops = compiled.cost_analysis()['flops']
    lax_flops = plain_lax_flops(config, shape) if 'dcgan' in config else flops
    counts = (count(state.g_params), count(state.d_params))
    runners = {'jax': jax_runner(compiled, state, jbatch)}
    if not args.no_torch:
      step = torch_step.make_torch_step(net, config, shape, counts)
      runners['torch'] = torch_step.torch_runner(step, num_threads())
      runners['torch1'] = torch_step.torch_runner(step, 1)  # Often torch's best on a loaded machine.
    per_step, _ = alternate(runners, args.reps, args.rep_seconds)
    j = statistics.median(per_step['jax'])
    t, t1 = (statistics.median(per_step[k]) if k in per_step else float('nan')
             for k in ('torch', 'torch1'))
    achieved = flops / j / 1e9
    pct = 100 * achieved / ctx['peak'] if 'peak' in ctx else float('nan')
    name = 'dcgan, conv_transpose' if net == 'dcgan_convT' else net
    lines.append(f'| {name} | {batch} | {fmt(1 / j, 2)} | {fmt(1 / t, 2)} | {fmt(t / j, 2)} | '
                 f'{fmt(j * 1e3)} | {fmt(t * 1e3)} | {fmt(t1 * 1e3)} | {fmt(flops / 1e9, 2)} | {fmt(achieved)} | '
                 f'{fmt(pct)} | {fmt(lax_flops / 1e9, 2)} | '
                 f'{fmt(pct * lax_flops / flops)} | {fmt(t_lower, 2)} | {fmt(t_compile, 2)} |')
    print(lines[-1], flush=True)
  lines += ['', 'JAX/torch > 1: JAX is faster. Param counts asserted equal. lower/compile: '
            'seconds to trace+lower and to XLA-compile the step (in this process). '
            'dcgan_xla_conv: D\'s convs with XLA\'s own backward (conv_impl=xla; dcgan takes '
            'the sub-pixel input gradient of its strided convs, models/conv.py). dcgan_ynnpack: the '
            'step compiled to YNNPACK\'s convolutions too (xla_cpu_kernels=ynnpack, XLA:CPU\'s '
            'default; every other JAX row as the trainer compiles it). GFLOP/step counts '
            'the work each JAX step\'s graph does (the seed G\'s phase convs); torch does '
            'more for the same function there. Per layer at batch 256: dcgan_layer_profile.md. '
            'lax GFLOP/step: the same step with lax\'s own convs, transposed convs and '
            'derivatives (dcgan.conv_impl=xla, upsample_impl=conv_transpose), whose count is '
            'what the transposed convs need (XLA counts valid window positions only, no zero '
            'taps); the default\'s count adds the sub-pixel forms\' cropped outputs, and counts '
            'a loop body once (the kernel gradients over batch chunks of stride-1 convs from '
            '16 MiB of windows: the seed\'s nets), while lax\'s form of the seed\'s G '
            'convolves its nearest-upsampled maps in full.']
  return lines


def section_multi_step(args, ctx):
  del ctx
  s = args.steps_per_call
  lines = ['## steps_per_call: several train steps per host call (JAX only)', '',
           f'steps_per_call = {s}, alternated with the single step; ms per train step, median.',
           '', '| net | batch | 1 per call ms | unrolled ms | lax.scan ms | unrolled compile s | '
           'scan compile s |', '|---|---|---|---|---|---|---|']
  for net in args.multi_step_nets:
    batch = args.batches[0]
    config, shape = get_config(net, batch)
    runners, compile_s = {}, {}
    for name, spc, unroll in [('single', 0, True), ('unrolled', s, True), ('scan', s, False)]:
      compiled, state, jbatch, _, t_compile = compile_step(config, shape, spc, unroll)
      runners[name], compile_s[name] = jax_runner(compiled, state, jbatch), t_compile
    per_call, _ = alternate(runners, args.reps, args.rep_seconds)
    ms = {k: 1e3 * statistics.median(v) / (s if k != 'single' else 1)
          for k, v in per_call.items()}
    lines.append(f'| {net} | {batch} | {fmt(ms["single"], 2)} | {fmt(ms["unrolled"], 2)} | '
                 f'{fmt(ms["scan"], 2)} | {fmt(compile_s["unrolled"], 2)} | '
                 f'{fmt(compile_s["scan"], 2)} |')
    print(lines[-1], flush=True)
  return lines


def section_cache(args, ctx):
  del ctx
  lines = ['## First step in a fresh process: persistent compilation cache cold vs warm', '',
           'Seconds from the first call of the jitted step to its result (trace, compile or '
           'cache load, run), in a fresh process; torch\'s first step for comparison.', '',
           '| net | batch | no cache s | cold cache s | warm cache s | torch first step s |',
           '|---|---|---|---|---|---|']
  for net in args.nets:
    batch = args.batches[0]
    common = ['--net', net, '--batch', str(batch), '--steps', '0']
    with tempfile.TemporaryDirectory() as cache:
      none = run_child(['--child', 'first_step', '--framework', 'jax', *common])
      cold = run_child(['--child', 'first_step', '--framework', 'jax', '--cache_dir', cache,
                        *common])
      warm = run_child(['--child', 'first_step', '--framework', 'jax', '--cache_dir', cache,
                        *common])
    torch_first = (float('nan') if args.no_torch else
                   run_child(['--child', 'first_step', '--framework', 'torch', *common])[
                       'first_step_s'])
    lines.append(f'| {net} | {batch} | {fmt(none["first_step_s"], 2)} | '
                 f'{fmt(cold["first_step_s"], 2)} | {fmt(warm["first_step_s"], 2)} | '
                 f'{fmt(torch_first, 2)} |')
    print(lines[-1], flush=True)
  return lines


def section_memory(args, ctx):
  del ctx
  lines = ['## Memory', '',
           f'Peak RSS (VmHWM) of a fresh process after importing its framework, and after '
           f'{args.memory_steps} train steps; XLA\'s memory analysis of the compiled step '
           '(arguments = state + batch; temp = scratch buffers). The torch process has jax imported '
           '(this module imports it; ~170 MB of its import figure, idle); JAX\'s peak includes '
           'XLA compiling the step.', '',
           '| net | batch | JAX RSS import MB | JAX RSS peak MB | torch RSS import MB | '
           'torch RSS peak MB | XLA args MB | XLA temp MB |', '|---|---|---|---|---|---|---|---|']
  for net in args.nets:
    for batch in args.batches:
      common = ['--net', net, '--batch', str(batch), '--steps', str(args.memory_steps)]
      j = run_child(['--child', 'first_step', '--framework', 'jax', *common])
      t = ({'rss_import_mb': float('nan'), 'rss_peak_mb': float('nan')} if args.no_torch else
           run_child(['--child', 'first_step', '--framework', 'torch', *common]))
      config, shape = get_config(net, batch)
      mem = compile_step(config, shape)[0].memory_analysis()
      lines.append(f'| {net} | {batch} | {fmt(j["rss_import_mb"], 0)} | '
                   f'{fmt(j["rss_peak_mb"], 0)} | {fmt(t["rss_import_mb"], 0)} | '
                   f'{fmt(t["rss_peak_mb"], 0)} | {fmt(mem.argument_size_in_bytes / 2**20)} | '
                   f'{fmt(mem.temp_size_in_bytes / 2**20)} |')
      print(lines[-1], flush=True)
  return lines


def section_scaling(args, ctx):
  del ctx
  net, batch = args.scaling_net, args.scaling_batch
  lines = ['## Scaling over simulated CPU devices (pmap via train.parallelize)', '',
           f'{net}, global batch {batch} split over N devices made by '
           '--xla_force_host_platform_device_count=N. All N share the same '
           f'{num_threads()} cores, so this measures the overhead of splitting, not a '
           'speed-up; it would be one on N real devices.', '',
           '| devices | batch per device | steps/s | ms/step | vs 1 device | first step s |',
           '|---|---|---|---|---|---|']
  base = None
  for n in args.devices:
    if batch % n:
      continue
    r = run_child(['--child', 'scaling', '--net', net, '--batch', str(batch), '--steps',
                   str(args.scaling_steps), '--reps', str(args.reps)],
                  env={'XLA_FLAGS': f'--xla_force_host_platform_device_count={n}'})
    base = base or r['step_s']
    lines.append(f'| {n} | {batch // n} | {fmt(1 / r["step_s"], 2)} | '
                 f'{fmt(r["step_s"] * 1e3)} | {fmt(base / r["step_s"], 2)}x | '
                 f'{fmt(r["first_step_s"], 2)} |')
    print(lines[-1], flush=True)
  return lines


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  csv = lambda kind: (lambda s: [kind(x) for x in s.split(',') if x])
  parser.add_argument('--nets', type=csv(str),
                      default=['dcgan', 'dcgan_ynnpack', 'dcgan_xla_conv', 'dcgan_seed32', 'vanilla'])
  parser.add_argument('--batches', type=csv(int), default=[64, 256])
  parser.add_argument('--reps', type=int, default=5)
  parser.add_argument('--rep_seconds', type=float, default=1.0)
  parser.add_argument('--sections', type=csv(str), default=list(SECTIONS))
  parser.add_argument('--no_conv_transpose', dest='conv_transpose', action='store_false',
                      help='skip the dcgan row with upsample_impl=conv_transpose (~1 s/step)')
  parser.add_argument('--no_torch', action='store_true')
  parser.add_argument('--peak_reps', type=int, default=5)
  parser.add_argument('--steps_per_call', type=int, default=4)
  # Not dcgan_seed32 by default: its scan variant (~10x slower convs) takes ~15 min here.
  parser.add_argument('--multi_step_nets', type=csv(str), default=['vanilla', 'dcgan'])
  parser.add_argument('--memory_steps', type=int, default=5)
  parser.add_argument('--scaling_net', default='dcgan')
  parser.add_argument('--scaling_batch', type=int, default=64)
  parser.add_argument('--scaling_steps', type=int, default=5)
  parser.add_argument('--devices', type=csv(int), default=[1, 2, 4, 8])
  parser.add_argument('--out', default=os.path.join(ROOT, 'experiments/benchmarks/results.md'))
  # Internal: what a child process runs.
  parser.add_argument('--child', choices=['first_step', 'scaling'])
  parser.add_argument('--framework', choices=['jax', 'torch'], default='jax')
  parser.add_argument('--net', default='dcgan')
  parser.add_argument('--batch', type=int, default=64)
  parser.add_argument('--steps', type=int, default=0)
  parser.add_argument('--cache_dir', default='')
  args = parser.parse_args()
  if args.child:
    {'first_step': child_first_step, 'scaling': child_scaling}[args.child](args)
    return
  unknown = set(args.sections) - set(SECTIONS) or set(args.nets) - set(NETS)
  if unknown:
    parser.error(f'unknown {sorted(unknown)}; sections {SECTIONS}, nets {sorted(NETS)}')

  import platform  # pylint: disable=g-import-not-at-top
  try:
    import torch  # pylint: disable=g-import-not-at-top
    torch_version = torch.__version__
  except ImportError:
    torch_version, args.no_torch = 'not installed (pip install -r requirements-bench.txt)', True
  lines = ['# GAN train step: JAX vs PyTorch on CPU', '',
           f'`{" ".join(["python", *sys.argv])}`', '',
           f'jax {jax.__version__} ({jax.default_backend()}, {jax.device_count()} device), '
           f'torch {torch_version}, {num_threads()} cores available '
           f'({platform.processor() or platform.machine()}), load average at start '
           f'{os.getloadavg()[0]:.1f}. Other jobs share these cores: absolute numbers are '
           'noisy; ratios from alternated reps less so.', '']
  ctx = {}
  for name in SECTIONS:
    if name in args.sections:
      print(f'--- {name}', flush=True)
      section = globals()[f'section_{name}'](args, ctx) + ['']
      print('\n'.join(section), flush=True)  # Now, not only at the end: a long run may be cut.
      lines += section
  lines.append(f'Load average at end {os.getloadavg()[0]:.1f}.')
  text = '\n'.join(lines) + '\n'
  print(text)
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  with open(args.out, 'w') as f:
    f.write(text)


if __name__ == '__main__':
  main()
