"""Run by test_devices.py in one subprocess with 8 simulated CPU devices (not collected by pytest).

For each variant, trains the same config, seed and global batch on 1, 2 and 8 devices under
pmap, and on 8 devices under shard_map, and prints per-step losses and final params as JSON.
Variants `NAME:x64` run in float64 (params, optimiser state, data and latents), where only the
logic, not float32's reduction order, can make the device counts disagree.
"""
import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import checkpoints, clusters, input_pipeline, train, validation
from tests.conftest import tiny

DEVICE_RUNS = (('pmap', 1), ('pmap', 2), ('pmap', 8), ('shard_map', 8))


def _to_float64(tree):
  return jax.tree.map(lambda x: x.astype(jnp.float64) if x.dtype == jnp.float32 else x, tree)


def run(config, data, n, parallel, x64):
  config.parallel = parallel
  state = checkpoints.create_train_state(
      config, data_shape=data['image'].shape[1:],
      num_classes=validation.validate_data(config, data), label_probs=data.get('label_probs'))
  step, put_state, put_batch = train.parallelize(config, jax.devices()[:n])
  if x64:
    state = state.replace(**{k: _to_float64(getattr(state, k)) for k in (
        'g_params', 'd_params', 'g_batch_stats', 'd_batch_stats', 'g_opt_state', 'd_opt_state',
        'g_ema_params')})
  pstate = put_state(state)
  batches = train.host_batches(config, data, 0)
  losses = []
  for _ in range(config.num_train_steps):
    batch = next(batches)
    if x64:
      batch = {**batch, 'image': batch['image'].astype(np.float64)}
    pstate, metrics = step(pstate, put_batch(batch))
    m = jax.device_get(metrics)
    losses.append([float(np.asarray(m[k]).reshape(-1)[0]) for k in ('d_loss', 'g_loss')])
  final = jax.device_get(train.unreplicate(config, pstate))
  flat = lambda tree: np.concatenate([np.asarray(x).ravel() for x in jax.tree.leaves(tree)])
  # G's average (when kept) and D's spectral-norm vectors are compared with the params.
  g = flat((final.g_params, final.g_ema_params))
  d = flat((final.d_params, final.d_batch_stats))
  return {'losses': losses, 'g': g.tolist(), 'd': d.tolist(), 'dtype': str(g.dtype)}


def variant(spec):
  name, *options = spec.split(':')
  config = tiny(__import__(f'configs.{name}', fromlist=['x']).get_config(),
                num_train_steps=10, batch_size=16, num_d_steps=2)
  if 'top_k' in options:  # From step 1 G learns from the best half of the global batch.
    config.top_k.update(min_fraction=0.5, decay=0.5, decay_every=1)
  if 'toolbox' in options:  # DiffAugment's draws, the EMA, and per model its loss and norm.
    config.augment = 'color,translation,cutout'
    config.ema.update(decay=0.5, start_step=3)
    if name == 'dcgan':  # D keeps its BatchNorm and adds the minibatch deviation over pairs
      # (a device's 2 examples on 8 devices) and dropout; G has BatchNorm and spectral norm; Q.
      # The relativistic loss: G's step scores a real batch too (D's BatchNorm over it).
      config.update_from_flattened_dict({'loss': 'relativistic', 'dcgan.g_spectral_norm': True,
                                         'dcgan.minibatch_std': 2,
                                         'dcgan.d_dropout': 0.2,
                                         'info.categories': 4, 'info.continuous': 1})
      # bCR's shifts and flips. Not with the MLP's Wasserstein loss, where the true gradient of
      # D's output bias is zero: the penalty's two sides cancel there only to rounding, which
      # Adam scales to full steps, so 1 and 2 devices would differ by that noise.
      config.consistency.update(real=10.0, fake=10.0, flip=True)
      config.reuse_fakes = True  # G's update through the pass of D's fakes (BatchNorm's pmean).
    else:  # The MLP's D has no BatchNorm: WGAN-GP, whose interpolates mix the global batch.
      config.update_from_flattened_dict({'loss': 'wasserstein', 'gp_lambda': 10.0})
  if 'clusters' in options:  # Labels drawn from unequal shares over the global batch.
    config.clusters = 3
  x64 = 'x64' in options
  jax.config.update('jax_enable_x64', x64)
  data = input_pipeline.load_split(config.dataset, image_size=config.image_size)
  if config.get('clusters'):
    data = clusters.relabel(data, config.clusters, seed=config.seed)
  out = {}
  # float32: 1 and 8 devices; float64, the proof of the logic, also 2.
  for p, n in DEVICE_RUNS if x64 else [r for r in DEVICE_RUNS if r != ('pmap', 2)]:
    start = time.time()
    out[f'{p}{n}'] = run(config.copy_and_resolve_references(), data, n, p, x64)
    print(f'{spec} {p}{n}: {time.time() - start:.1f} s', file=sys.stderr, flush=True)
  out['lr'] = {'g': config.optim.g_lr, 'd': config.optim.d_lr}
  out['updates'] = {'g': config.num_train_steps,
                    'd': config.num_train_steps * config.num_d_steps}
  return out


def main():
  out = {spec: variant(spec) for spec in sys.argv[1:]}
  jax.config.update('jax_enable_x64', False)
  try:
    validation.validate_config(tiny(__import__('configs.dcgan', fromlist=['x']).get_config(),
                                    batch_size=12))
    out['indivisible_error'] = ''
  except ValueError as e:
    out['indivisible_error'] = str(e)
  print('RESULT' + json.dumps(out))


if __name__ == '__main__':
  main()
