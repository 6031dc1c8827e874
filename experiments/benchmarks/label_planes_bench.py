"""The conditional DCGAN's train step with D's one-hot label planes as one map per class
(`models.conv.constant_planes`, the default) against the conv of the concatenated planes, and the
unconditional step: 28x28 nets of configs/sota.py, batch 64, built by gan_step_bench.compile_step
(state donated, one device, the kernels the trainer compiles to: `--kernels`,
config.xla_cpu_kernels). Variants alternate rep by rep (gan_step_bench.alternate); medians of
ms per step.
Not a test; run e.g.

  python experiments/benchmarks/label_planes_bench.py --classes=10,30 --reps=3 --target_s=2
"""
import argparse
import statistics
from unittest import mock

import gan_step_bench  # pylint: disable=g-import-not-at-top  (puts the repository on sys.path)
import jax

from configs import sota
from gan_jax import xla_cpu
from gan_jax.models import conv


def make_step(num_classes: int, batch: int, kernels: str):
  config = sota.get_config()
  config.xla_cpu_kernels = kernels
  config.clusters = num_classes  # Labels of their own: no data set needed.
  config.batch_size = batch
  # Compiled with xla_cpu.step_options(config), as the trainer compiles it.
  compiled, state, data, _, _ = gan_step_bench.compile_step(config, (28, 28, 1))
  return gan_step_bench.jax_runner(compiled, state, data)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--classes', default='10,30')
  parser.add_argument('--batch', type=int, default=64)
  parser.add_argument('--reps', type=int, default=5)
  parser.add_argument('--target_s', type=float, default=2.0, help='seconds per rep')
  parser.add_argument('--kernels', default=sota.get_config().xla_cpu_kernels,
                      choices=list(xla_cpu.KERNELS),
                      help="XLA:CPU's kernels; default: the config's, as the trainer compiles")
  args = parser.parse_args()
  variants = {'unconditional': make_step(0, args.batch, args.kernels)}
  for k in (int(c) for c in args.classes.split(',')):
    variants[f'{k} classes, per-class maps'] = make_step(k, args.batch, args.kernels)
    with mock.patch.object(conv, 'constant_planes', lambda channels, fn: fn):
      variants[f'{k} classes, concatenated planes'] = make_step(k, args.batch, args.kernels)
  times, counts = gan_step_bench.alternate(variants, args.reps, args.target_s)
  print(f'batch {args.batch}, {jax.device_count()} device(s), xla_cpu_kernels={args.kernels}, '
        f'median of {args.reps} reps of ~{args.target_s} s\n\n'
        '| variant | ms per step | steps per rep |\n|---|---|---|')
  for name, ts in times.items():
    print(f'| {name} | {1e3 * statistics.median(ts):.1f} | {counts[name]} |')


if __name__ == '__main__':
  main()
