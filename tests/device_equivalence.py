"""Run by test_devices.py in a subprocess with 8 simulated CPU devices (not collected by pytest).

Trains the same config, seed and global batch on 1, 2 and 8 devices under pmap, and on 8
devices under shard_map, and prints per-step losses and final params as JSON.
"""
import json
import sys

import jax
import numpy as np

from gan_jax import input_pipeline, train
from tests.conftest import tiny


def run(config, data, n, parallel):
  config.parallel = parallel
  state = train.create_train_state(config, data_shape=data['image'].shape[1:],
                                   num_classes=data['num_classes'] if config.conditional else 0)
  step, put_state, put_batch = train.parallelize(config, jax.devices()[:n])
  pstate = put_state(state)
  batches = train.host_batches(config, data, 0)
  losses = []
  for _ in range(config.num_train_steps):
    pstate, metrics = step(pstate, put_batch(next(batches)))
    m = jax.device_get(metrics)
    losses.append([float(np.asarray(m[k]).reshape(-1)[0]) for k in ('d_loss', 'g_loss')])
  final = jax.device_get(train.unreplicate(config, pstate))
  params = [np.asarray(x).ravel().tolist() for x in jax.tree.leaves((final.g_params,
                                                                      final.d_params))]
  return {'losses': losses, 'params': params}


def main():
  name, _, variant = sys.argv[1].partition(':')
  config = tiny(__import__(f'configs.{name}', fromlist=['x']).get_config(),
                num_train_steps=10, batch_size=16, num_d_steps=2)
  if variant == 'top_k':  # From step 1 G learns from the best half of the global batch.
    config.top_k.update(min_fraction=0.5, decay=0.5, decay_every=1)
  data = input_pipeline.load_split(config.dataset, image_size=config.image_size)
  out = {f'pmap{n}': run(config.copy_and_resolve_references(), data, n, 'pmap')
         for n in (1, 2, 8)}
  out['shard_map8'] = run(config.copy_and_resolve_references(), data, 8, 'shard_map')
  try:
    train.validate_config(tiny(config, batch_size=12))
    out['indivisible_error'] = ''
  except ValueError as e:
    out['indivisible_error'] = str(e)
  print('RESULT' + json.dumps(out))


if __name__ == '__main__':
  main()
