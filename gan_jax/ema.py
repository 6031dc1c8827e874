"""An exponential moving average of G's parameters, and the generator that samples with it.

Averaging G's weights over the last few thousand steps (Karras et al. 2018; Yazici et al. 2019)
smooths out the oscillation of adversarial training: the average sits near the centre of the
orbit G keeps moving along. `train_step` updates it after every generator step; evaluation, the
sample grids and `gan_jax.sample` use it when the run keeps one.

BatchNorm in G needs one more thing: the running statistics were collected with the raw weights,
whose activations the averaged weights do not reproduce. `sampling_state` therefore recomputes
them for the averaged weights from one large batch of G in training mode (BigGAN's and
StudioGAN's "standing statistics"), so the EMA generator normalises with statistics of its own.
"""
from typing import Any, NamedTuple

import flax
import jax
import jax.numpy as jnp
import optax

from gan_jax.models import layers

STANDING_BATCH = 2048  # Latents whose batch statistics become the EMA generator's.


class EMA(NamedTuple):
  """ema <- decay * ema + (1 - decay) * params after each generator step from `start_step` on;
  before it the average follows the params exactly (the early, fast-moving G is not worth
  remembering). A NamedTuple, so that it is a static argument of the step."""
  decay: float = 0.0  # 0: off.
  start_step: int = 0

  @property
  def on(self) -> bool:
    return self.decay > 0

  def update(self, ema_params: Any, params: Any, step: jax.Array) -> Any:
    step_size = jnp.where(step >= self.start_step, 1.0 - self.decay, 1.0)
    return optax.incremental_update(params, ema_params, step_size)


def of_config(config) -> EMA:
  """The config's `ema` block as an EMA (off when the config has none)."""
  if 'ema' not in config:
    return EMA()
  if not 0 <= config.ema.decay < 1:
    raise ValueError(f'ema.decay={config.ema.decay} must be in [0, 1) (0 = off).')
  return EMA(float(config.ema.decay), int(config.ema.start_step))


def _is_bn_statistic(path) -> bool:
  # BatchNorm keeps 'mean' and 'var'; a spectral norm's vectors in the same collection are
  # named '<layer>/kernel/u' and '<layer>/kernel/sigma'.
  return path[-1] in ('mean', 'var')


@jax.jit
def standing_batch_stats(state, params, z, labels=None):
  """G's BatchNorm statistics of the batch G(z | labels) with `params`, in training mode.

  flax's BatchNorm blends the batch's statistics into the running ones with layers.BN_MOMENTUM;
  starting from zeros and dividing by (1 - momentum) leaves the batch's own. Other variables of
  the collection (spectral-norm vectors) keep their values.
  """
  stats = flax.traverse_util.flatten_dict(flax.core.unfreeze(state.g_batch_stats))
  zeroed = {p: jnp.zeros_like(v) if _is_bn_statistic(p) else v for p, v in stats.items()}
  # Outside any device axis: the whole batch is here, so BatchNorm must not pmean.
  generator = state.generator.clone(axis_name=None)
  _, new = generator.apply(
      {'params': params, 'batch_stats': flax.traverse_util.unflatten_dict(zeroed)}, z, labels,
      train=True, rngs={'dropout': jax.random.fold_in(state.rng, 1)}, mutable=['batch_stats'])
  new = flax.traverse_util.flatten_dict(flax.core.unfreeze(new['batch_stats']))
  out = {p: new[p] / (1.0 - layers.BN_MOMENTUM) if _is_bn_statistic(p) else stats[p]
         for p in stats}
  return flax.traverse_util.unflatten_dict(out)


def standing_latents(state, num: int = STANDING_BATCH):
  """(z, labels) of the standing statistics: fixed per run, so every call gives the same G.

  Labels in turn, also for clusters of unequal shares: labels by the shares (as G draws them in
  training) gave a 1-2 % higher classifier FCD on MNIST's clusters=30 seeds 0-2, and 8,192
  samples none lower than 2,048 (experiments/toolbox/sampling_probe.py)."""
  rng = jax.random.fold_in(state.rng, 0x57A4D)  # Not the training stream.
  z = layers.sample_latent(rng, num, state.latent_dim, state.prior)
  return z, (jnp.arange(num) % state.num_classes) if state.num_classes else None


def sampling_state(state, *, use_ema: bool = True):
  """`state` with the generator that samples: the EMA one (averaged params, standing statistics)
  when the run keeps an average and `use_ema`, else `state` itself (the raw G)."""
  if not use_ema or not state.g_ema_params:
    return state
  stats = state.g_batch_stats
  if any(_is_bn_statistic(path) for path in flax.traverse_util.flatten_dict(
      flax.core.unfreeze(stats))):
    stats = standing_batch_stats(state, state.g_ema_params, *standing_latents(state))
  return state.replace(g_params=state.g_ema_params, g_batch_stats=stats)
