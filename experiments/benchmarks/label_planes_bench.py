"""The conditional DCGAN's train step with D's one-hot label planes as one map per class
(`models.conv.constant_planes`, the default) against the conv of the concatenated planes, and the
unconditional step: 28x28 nets of configs/sota.py, batch 64, jitted, one device. Variants
alternate rep by rep; medians of ms per step. Not a test; run e.g.

  python experiments/benchmarks/label_planes_bench.py --classes=10,30 --reps=3 --steps=15
"""
import argparse
import statistics
import time
from unittest import mock

import jax
import jax.numpy as jnp

from configs import sota
from gan_jax import checkpoints, steps
from gan_jax.models import conv


def make_step(num_classes: int, batch: int):
  config = sota.get_config()
  config.clusters = num_classes  # Labels of their own: no data set needed.
  state = checkpoints.create_train_state(config, data_shape=(28, 28, 1),
                                         num_classes=num_classes, axis_name=None)
  data = {'image': jnp.zeros((1, batch, 28, 28, 1))}
  if num_classes:
    state = state.replace(label_probs=jnp.full(num_classes, 1 / num_classes))
    data['label'] = (jnp.arange(batch) % num_classes)[None]
  fn = jax.jit(steps.make_train_step(config, axis_name=None))
  state = jax.block_until_ready(fn(state, data)[0])  # Compiles.
  holder = {'state': state}

  def run(n):
    start = time.perf_counter()
    for _ in range(n):
      holder['state'] = fn(holder['state'], data)[0]
    jax.block_until_ready(holder['state'])
    return (time.perf_counter() - start) / n * 1e3
  return run


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--classes', default='10,30')
  parser.add_argument('--batch', type=int, default=64)
  parser.add_argument('--reps', type=int, default=5)
  parser.add_argument('--steps', type=int, default=20, help='steps per rep')
  args = parser.parse_args()
  variants = {'unconditional': make_step(0, args.batch)}
  for k in (int(c) for c in args.classes.split(',')):
    variants[f'{k} classes, per-class maps'] = make_step(k, args.batch)
    with mock.patch.object(conv, 'constant_planes', lambda channels, fn: fn):
      variants[f'{k} classes, concatenated planes'] = make_step(k, args.batch)
  times = {name: [] for name in variants}
  for _ in range(args.reps):
    for name, run in variants.items():
      times[name].append(run(args.steps))
  print(f'batch {args.batch}, {jax.device_count()} device(s), median of {args.reps} reps of '
        f'{args.steps} steps\n\n| variant | ms per step |\n|---|---|')
  for name, ts in times.items():
    print(f'| {name} | {statistics.median(ts):.1f} |')


if __name__ == '__main__':
  main()
