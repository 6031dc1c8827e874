"""Where a compiled train step spends its time, op by op: a `jax.profiler` trace of the package's
own `steps.train_step` (jitted, state donated), each XLA op's time summed over the traced steps
and matched to its HLO instruction (shape, and the source op it came from).

XLA:CPU runs a step's ops in dependency order on its threads, and most ops' trace events span their
work. XLA's own convolutions (the train step's kernels, gan_jax/xla_cpu.py) do not: their event is
the launch, the work runs on Eigen's pool after it, and the executor meanwhile runs the small
independent ops it can, then waits. So a stretch of a step in which no op runs is counted to the
convolution launched last (before any, to the op that ended last), and the rows add up to the traced
step (a little more where ops overlap on the two threads); the time between two steps (the host's
dispatch) is a row of its own. "part" groups ops by where they come from: a net's layer (forward
`fwd`, or in a VJP `bwd`), or the code outside both nets (the optimisers' updates, the EMA of G, the
logged norms and losses).

  python experiments/benchmarks/step_op_profile.py --config=configs/sota.py:infogan
  python experiments/benchmarks/step_op_profile.py --config=configs/dcgan.py --batch=256 --top=25 \\
      --out=/tmp/dcgan256_ops.md
  python experiments/benchmarks/step_op_profile.py --config=net=dcgan64 --batch=256  # on a GPU
  python experiments/benchmarks/step_op_profile.py --config=configs/sota.py:clusters=30 \\
      --set=r1_gamma=0.1 --set=dcgan.conv_impl=xla
"""
import argparse
import ast
import collections
import glob
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gan_step_bench  # pylint: disable=g-import-not-at-top  (puts the repository on sys.path)
import jax

from gan_jax import sweep

# The row of the time between the traced steps' ops (the host's dispatch of the next step).
BETWEEN_STEPS = 'between steps'
# The event of XLA:CPU's runtime that spans one whole execution of the step.
_STEP = 'ThunkExecutor::Execute (wait for completion)'
# Trace lines of the XLA:CPU runtime that are scheduling, not an op's work.
_NOT_OPS = ('ThunkExecutor', 'SlinkyThreadPool', 'ThreadpoolListener', 'end: ')


def override(config, item):
  """Sets `config`'s KEY to VALUE for an item 'KEY=VALUE' (dotted KEY, VALUE a Python literal or
  a plain string), as `--config.KEY=VALUE` does for gan_jax.main."""
  key, value = item.split('=', 1)
  *path, last = key.split('.')
  node = config
  for name in path:
    node = node[name]
  try:
    value = ast.literal_eval(value)
  except (ValueError, SyntaxError):
    pass  # A string such as 'xla'.
  node[last] = value


def compiled_step(config_arg, batch, overrides=()):
  """gan_step_bench's compiled step (state donated) for a config file (`configs/sota.py:infogan`),
  grayscale, or for one of gan_step_bench's NETS (`net=dcgan64`), in its shape; `overrides`:
  'KEY=VALUE' items (`override`)."""
  if config_arg.startswith('net='):
    config, shape = gan_step_bench.get_config(config_arg[4:], batch)
    for item in overrides:
      override(config, item)
    compiled, state, batch, _, _ = gan_step_bench.compile_step(config, shape)
    return compiled, state, batch
  config = sweep.load_config(config_arg)  # As gan_jax.main reads --config.
  if batch:
    config.batch_size = batch
  for item in overrides:
    override(config, item)
  compiled, state, batch, _, _ = gan_step_bench.compile_step(
      config, (config.image_size, config.image_size, 1))
  return compiled, state, batch


def op_times(compiled, state, batch, num_steps):
  """({op name: seconds per step}, wall seconds per step) over `num_steps` traced steps."""
  for _ in range(3):
    state, metrics = compiled(state, batch)
  jax.block_until_ready(metrics)
  with tempfile.TemporaryDirectory() as logdir:
    jax.profiler.start_trace(logdir)
    t0 = time.perf_counter()
    for _ in range(num_steps):
      state, metrics = compiled(state, batch)
    jax.block_until_ready(metrics)
    wall = (time.perf_counter() - t0) / num_steps
    jax.profiler.stop_trace()
    path, = glob.glob(os.path.join(logdir, '**', '*.xplane.pb'), recursive=True)
    profile = jax.profiler.ProfileData.from_file(path)
  totals = collections.Counter()
  # On a GPU the kernels lie on the device plane's stream lines, each with its HLO op as a stat;
  # on the CPU the ops are events of the host's XLA threads.
  gpu = any(p.name.startswith('/device:GPU') for p in profile.planes)
  events, steps = [], []
  for plane in profile.planes:
    for line in plane.lines:
      if gpu and not (plane.name.startswith('/device:GPU:0') and line.name.startswith('Stream')):
        continue
      if not gpu and 'XLA' not in line.name:
        continue
      for event in line.events:
        name = dict(event.stats).get('hlo_op', event.name) if gpu else event.name
        if name.startswith(_STEP):
          steps.append((event.start_ns, event.start_ns + event.duration_ns))
        if not name.startswith(_NOT_OPS):
          totals[name] += event.duration_ns * 1e-9 / num_steps
          events.append((event.start_ns, event.start_ns + event.duration_ns, name))
  if not gpu:
    for name, seconds in idle_times(sorted(events), sorted(steps)).items():
      totals[name] += seconds / num_steps
  return totals, wall


def idle_times(events, steps):
  """{op name or BETWEEN_STEPS: seconds} of the stretches in which no op's event runs: within the
  steps, counted to the convolution launched last (before the first one, to the op that ended
  last); outside every step's execution, to BETWEEN_STEPS.

  events: (start ns, end ns, op name), sorted; steps: each execution's (start ns, end ns). A step
  can start its first ops while the one before it finishes, hence one pass over all events.
  """
  def inside(lo, hi):  # ns of [lo, hi) within some step's execution (all, if none was traced)
    if not steps:
      return hi - lo
    return min(hi - lo, sum(max(0, min(hi, b) - max(lo, a)) for a, b in steps))

  idle = collections.Counter()
  last_end, last_op, last_conv = events[0][1], events[0][2], None
  for start, end, name in events:
    if start > last_end:
      busy = inside(last_end, start)
      idle[last_conv or last_op] += busy * 1e-9
      idle[BETWEEN_STEPS] += (start - last_end - busy) * 1e-9
    if end >= last_end:
      last_end, last_op = end, name
    if name.startswith(('convolution', 'conv_general_dilated')):  # Not 'convert_...'.
      last_conv = name
  return idle


def describe(hlo_text, name):
  """(shape, source op, part) of the HLO instruction `name`."""
  if name == BETWEEN_STEPS:
    return '', '', BETWEEN_STEPS
  m = re.search(r'\n\s*(?:ROOT )?%' + re.escape(name) + r' = (\S+) ([^\n]*)', hlo_text)
  if not m:
    return '', '', 'other'
  source = re.search(r'op_name="jit\(train_step\)/([^"]*)"', m.group(2))
  source = source.group(1) if source else ''
  layer = re.search(r'DCGAN(Generator|Discriminator)\)*/(\w+)', source)
  if layer:
    direction = 'bwd' if 'transpose(' in source else 'fwd'
    part = f"{'G' if layer.group(1) == 'Generator' else 'D'} {layer.group(2)} {direction}"
  else:
    part = 'outside the nets' if source else 'other'
  return m.group(1).split('{')[0], source, part


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--config', default='configs/sota.py:infogan',
                      help='a config as gan_jax.main takes it (path[:arg]), or net=NAME')
  parser.add_argument('--batch', type=int, default=0, help='0: the config\'s batch size')
  parser.add_argument('--steps', type=int, default=10, help='traced steps')
  parser.add_argument('--top', type=int, default=20, help='ops listed one by one')
  parser.add_argument('--out', default=None, help='also write the tables here (markdown)')
  parser.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                      help='a config override as --config.KEY=VALUE sets it (repeatable)')
  args = parser.parse_args()

  compiled, state, batch = compiled_step(args.config, args.batch, args.set)
  totals, wall = op_times(compiled, state, batch, args.steps)
  hlo_text = compiled.as_text()
  rows = [(seconds, name, *describe(hlo_text, name)) for name, seconds in totals.items()]
  rows.sort(reverse=True)
  summed = sum(r[0] for r in rows)
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  sets = ''.join(f' `{item}`' for item in args.set)
  lines = [f'# Ops of one train step: `{args.config}`{sets}, batch {batch["image"].shape[1]}', '',
           f'jax {jax.__version__} ({jax.default_backend()}), {len(os.sched_getaffinity(0))} '
           f'cores, XLA_FLAGS={os.environ.get("XLA_FLAGS")}. {args.steps} traced steps: '
           f'{wall * 1e3:.1f} ms per step (traced), the rows add up to {summed * 1e3:.1f} ms; '
           f'{cost.get("flops", 0) / 1e9:.2f} GFLOP per step (XLA cost analysis).', '',
           '| part | ms/step | % |', '|---|---|---|']
  parts = collections.Counter()
  for seconds, _, _, _, part in rows:
    parts[part] += seconds
  lines += [f'| {p} | {s * 1e3:.1f} | {100 * s / summed:.0f} |' for p, s in parts.most_common()]
  lines += ['', '| op | ms/step | shape | from |', '|---|---|---|---|']
  lines += [f'| {name} | {seconds * 1e3:.2f} | {shape} | {source[:90]} |'
            for seconds, name, shape, source, _ in rows[:args.top]]
  text = '\n'.join(lines) + '\n'
  print(text)
  if args.out:
    with open(args.out, 'w') as f:
      f.write(text)


if __name__ == '__main__':
  main()
