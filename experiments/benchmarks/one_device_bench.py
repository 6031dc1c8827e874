"""The train step on one device as the trainer runs it, with and without the device axis's
collectives, against plain `jax.jit`: alternated, median ms per step.

On one device every pmean / all-gather of the step is the identity, but XLA:CPU runs each as an
op between fusions, so `train.parallelize` builds the step without the axis there. The rows:
pmap of the step built with the axis (as before that), `train.parallelize` under pmap and under
shard_map (now without it), and `jax.jit` of the step with axis_name=None.

  PYTHONPATH=. python experiments/benchmarks/one_device_bench.py --config=configs/dcgan.py
  PYTHONPATH=. python experiments/benchmarks/one_device_bench.py \\
      --config=configs/sota.py:clusters=30
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import flax  # pylint: disable=g-import-not-at-top
import jax
import jax.numpy as jnp

from gan_jax import steps, sweep, train  # pylint: disable=g-import-not-at-top
from gan_jax.models.layers import AXIS
from experiments.benchmarks import gan_step_bench as bench


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--config', default='configs/dcgan.py',
                      help="a config as gan_jax.main takes it, e.g. 'configs/sota.py:clusters=30'")
  parser.add_argument('--batch', type=int, default=64)
  parser.add_argument('--reps', type=int, default=5)
  parser.add_argument('--rep_seconds', type=float, default=1.0)
  args = parser.parse_args()
  config = sweep.load_config(args.config)  # As gan_jax.main builds it.
  config.batch_size = args.batch
  shape = (config.image_size, config.image_size, 1)
  _state = lambda axis_name: bench.jax_state(config, shape, axis_name)  # noqa: E731
  host = jax.device_get(bench.jax_batch(shape, args.batch, classes=bench.num_classes(config)))
  device = jax.devices()[:1]
  runners = {}
  # As parallelize built it before: the step and models with the axis, over one device.
  fn = jax.pmap(steps.make_train_step(config, axis_name=AXIS), axis_name=AXIS, donate_argnums=(0,))
  place = jax.pmap(lambda x: x, axis_name=AXIS)
  runners['pmap, with the axis'] = bench.jax_runner(
      fn, place(flax.jax_utils.replicate(jax.device_get(_state(AXIS)), device)),
      jax.device_put(jax.tree.map(lambda x: x[None], host)))
  for parallel in ('pmap', 'shard_map'):
    config.parallel = parallel
    fn, put_state, put_batch = train.parallelize(config, device)
    runners[f'train.parallelize, {parallel}'] = bench.jax_runner(
        fn, put_state(_state(AXIS)), put_batch(host))
  jitted = jax.jit(steps.make_train_step(config, axis_name=None), donate_argnums=(0,))
  runners['jax.jit, axis None'] = bench.jax_runner(
      jitted, _state(None), jax.tree.map(jnp.asarray, host))
  per_step, _ = bench.alternate(runners, args.reps, args.rep_seconds)
  print(f'{args.config}, batch {args.batch}, jax {jax.__version__} ({jax.default_backend()}); '
        f'median ms per step of {args.reps} alternated reps\n')
  print('| step | ms |\n|---|---|')
  for name, times in per_step.items():
    print(f'| {name} | {statistics.median(times) * 1e3:.1f} |')


if __name__ == '__main__':
  main()
