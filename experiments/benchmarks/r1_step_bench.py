"""The train step with and without R1 (`config.r1_gamma`), D's convs on XLA's own autodiff
(`dcgan.conv_impl=xla`) or on models/conv.py's (`auto`: the strided convs' sub-pixel input
gradient and XLA's kernel gradient, and its own second derivatives, which R1 takes of D's input
gradient).
One process, the four compilations alternated rep by rep (gan_step_bench.alternate), state
donated, one device; medians of ms per step, as the trainer compiles the step. With `auto`,
also lazy R1 as train.py runs it (`r1_every`): the R1 step at every r1_every-th step and the
unpenalised one between, so the cost of switching programs counts too.

  python experiments/benchmarks/r1_step_bench.py --config=configs/sota.py:clusters=30 --reps=7
"""
import argparse
import itertools
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gan_step_bench  # pylint: disable=g-import-not-at-top  (puts the repository on sys.path)
import jax

from gan_jax import sweep


def runner(config, conv_impl, r1_gamma):
  config = config.copy_and_resolve_references()
  config.dcgan.conv_impl = conv_impl
  config.r1_gamma = r1_gamma
  return gan_step_bench.config_runner(config)


def lazy_runner(config, r1_gamma, every):
  """run(n) -> seconds for n steps' worth of lazy R1: n whole cycles of `every` steps (the R1
  step, then the unpenalised one every - 1 times, both compiled for one state), over `every`,
  so each rep holds the same share of R1 steps."""
  config = config.copy_and_resolve_references()
  config.dcgan.conv_impl, config.r1_gamma, config.r1_every = 'auto', r1_gamma, every
  shape = (config.image_size, config.image_size, 1)
  penalised, state, batch, _, _ = gan_step_bench.compile_step(config, shape)
  plain = gan_step_bench.compile_step(config, shape, regularize=False, state=state)[0]
  count = itertools.count()
  step = lambda s, b: (penalised if next(count) % every == 0 else plain)(s, b)  # noqa: E731
  cycles = gan_step_bench.jax_runner(step, state, batch)
  return lambda n: cycles(n * every) / every


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--config', default='configs/sota.py:clusters=30')
  parser.add_argument('--batch', type=int, default=0, help="0: the config's")
  parser.add_argument('--r1_gamma', type=float, default=0.1)
  parser.add_argument('--r1_every', type=int, default=16, help="lazy R1's interval")
  parser.add_argument('--reps', type=int, default=7)
  parser.add_argument('--rep_seconds', type=float, default=1.0)
  args = parser.parse_args()
  config = sweep.load_config(args.config)
  if args.batch:
    config.batch_size = args.batch
  runners = {(impl, gamma): runner(config, impl, gamma)
             for impl in ('xla', 'auto') for gamma in (0.0, args.r1_gamma)}
  runners['lazy'] = lazy_runner(config, args.r1_gamma, args.r1_every)
  times, _ = gan_step_bench.alternate(runners, args.reps, args.rep_seconds)
  print(f'jax {jax.__version__}, {len(os.sched_getaffinity(0))} cores, load average '
        f'{os.getloadavg()[0]:.1f}; `{args.config}`, batch {config.batch_size}; median ms per '
        f'step of {args.reps} alternated reps of ~{args.rep_seconds} s (min-max)\n')
  med = lambda t: 1e3 * statistics.median(t)  # noqa: E731
  span = lambda t: f'{1e3 * min(t):.1f}-{1e3 * max(t):.1f}'  # noqa: E731
  print('| D conv_impl | no R1 ms | R1 ms | R1 / no R1 |')
  print('|---|---|---|---|')
  for impl in ('xla', 'auto'):
    plain, r1 = (times[(impl, g)] for g in (0.0, args.r1_gamma))
    print(f'| `{impl}` | {med(plain):.1f} ({span(plain)}) | {med(r1):.1f} ({span(r1)}) | '
          f'{med(r1) / med(plain):.2f} |')
  lazy, plain = times['lazy'], times[('auto', 0.0)]
  print(f'\nLazy R1 (`auto`, R1 every {args.r1_every}th step, the two programs alternating as in '
        f'train.py): {med(lazy):.1f} ({span(lazy)}) ms per step, {med(lazy) / med(plain):.3f}x '
        f'no R1; each rep\'s ratio to the no-R1 rep beside it, median '
        f'{statistics.median(a / b for a, b in zip(lazy, plain)):.3f}.')


if __name__ == '__main__':
  main()
