"""What a config option costs per train step: a config's step and its variants, alternated.

Each variant is a set of 'KEY=VALUE' overrides (as `--config.KEY=VALUE` of gan_jax.main) of one
base config; their steps are compiled as the trainer compiles them (gan_step_bench.config_runner:
one device, state donated, grayscale images of the config's size) and timed rep by rep in turns,
so a slow stretch of the machine hits all of them. Prints median ms per step and each variant's
ratio to the base. Lazy R1 runs two programs (r1_step_bench.py times that); set `r1_gamma=0` in
`--set` to compare the step that runs between the penalised ones.

  python experiments/benchmarks/variant_step_bench.py --config=configs/sota.py:clusters=30 \
      --set=r1_gamma=0 --variant=loss=relativistic --variant=loss=hinge
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gan_step_bench  # pylint: disable=g-import-not-at-top  (puts the repository on sys.path)
import jax
import step_op_profile

from gan_jax import sweep


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--config', default='configs/sota.py:clusters=30')
  parser.add_argument('--set', action='append', default=[],
                      help="KEY=VALUE for the base and every variant; repeatable")
  parser.add_argument('--variant', action='append', default=[],
                      help="KEY=VALUE[;KEY=VALUE...]: one variant of the base; repeatable")
  parser.add_argument('--reps', type=int, default=7)
  parser.add_argument('--rep_seconds', type=float, default=2.0)
  args = parser.parse_args()
  base = sweep.load_config(args.config)
  for item in args.set:
    step_op_profile.override(base, item)
  runners = {'base': gan_step_bench.config_runner(base)}
  for spec in args.variant:
    config = base.copy_and_resolve_references()
    for item in spec.split(';'):
      step_op_profile.override(config, item)
    runners[spec] = gan_step_bench.config_runner(config)
  times, _ = gan_step_bench.alternate(runners, args.reps, args.rep_seconds)
  print(f'jax {jax.__version__}, {len(os.sched_getaffinity(0))} cores, load average '
        f'{os.getloadavg()[0]:.1f}; `{args.config}` {" ".join(args.set)}, batch '
        f'{base.batch_size}; median ms per step of {args.reps} alternated reps of '
        f'~{args.rep_seconds} s (min-max)\n')
  med = lambda t: 1e3 * statistics.median(t)  # noqa: E731
  print('| variant | ms per step | / base | per rep, / the base rep beside it (median) |')
  print('|---|---|---|---|')
  for name, t in times.items():
    paired = statistics.median(a / b for a, b in zip(t, times['base']))
    print(f'| {name} | {med(t):.1f} ({1e3 * min(t):.1f}-{1e3 * max(t):.1f}) | '
          f'{med(t) / med(times["base"]):.3f} | {paired:.3f} |')


if __name__ == '__main__':
  main()
