"""The train step compiled with each choice of `config.xla_cpu_kernels` (gan_jax/xla_cpu.py):
XLA's own convolutions with YNNPACK's dots and reductions ('xla_convs', the default), YNNPACK's
convolutions, dots and reductions ('ynnpack', XLA:CPU's default), or none of YNNPACK's ('xla'),
per config and batch. The compilations of a config run in one process, alternated rep by rep
(gan_step_bench.alternate), state donated, one device, grayscale data; medians of ms per step.

  python experiments/benchmarks/step_kernels_bench.py --batches=64,256 --reps=7
  python experiments/benchmarks/step_kernels_bench.py --configs=configs/dcgan.py --batches=64
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gan_step_bench  # pylint: disable=g-import-not-at-top  (puts the repository on sys.path)
import jax

from gan_jax import sweep, xla_cpu


def runner(config, kernels):
  config = config.copy_and_resolve_references()
  config.xla_cpu_kernels = kernels
  # Compiled with xla_cpu.step_options(config), as the trainer compiles it.
  return gan_step_bench.config_runner(config)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--configs', default='configs/sota.py:clusters=30,configs/dcgan.py,'
                      'configs/dcgan_seed32.py,configs/vanilla.py',
                      help='config files as gan_jax.main takes them, comma-separated')
  parser.add_argument('--batches', default='64,256')
  parser.add_argument('--reps', type=int, default=7)
  parser.add_argument('--rep_seconds', type=float, default=1.0)
  args = parser.parse_args()
  # A config argument may hold commas only after its ':' (sota.py:clusters=30,steps=9): split
  # on the commas that start another configs/ path.
  specs = [s if s.startswith('configs/') else 'configs/' + s
           for s in args.configs.split(',configs/')]
  print(f'jax {jax.__version__}, {len(os.sched_getaffinity(0))} cores, '
        f'load average {os.getloadavg()[0]:.1f}; median ms per step of {args.reps} alternated '
        f'reps of ~{args.rep_seconds} s\n')
  names = list(xla_cpu.KERNELS)
  print('| config | batch | ' + ' | '.join(f'`{k}` ms' for k in names) +
        ' | `ynnpack` / `xla_convs` |')
  print('|---|---|' + '---|' * (len(names) + 1))
  for spec in specs:
    for batch in map(int, args.batches.split(',')):
      config = sweep.load_config(spec)
      config.batch_size = batch
      runners = {k: runner(config, k) for k in names}
      times, _ = gan_step_bench.alternate(runners, args.reps, args.rep_seconds)
      ms = {k: 1e3 * statistics.median(t) for k, t in times.items()}
      print(f'| `{spec}` | {batch} | ' + ' | '.join(f'{ms[k]:.1f}' for k in names) +
            f' | {ms["ynnpack"] / ms["xla_convs"]:.2f}x |', flush=True)


if __name__ == '__main__':
  main()
