"""Layers shared by the generators and discriminators."""
from typing import Any, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

# The name of the device axis under pmap / shard_map: BatchNorm averages its statistics over it,
# dropout draws its mask for the global batch along it, and the steps average gradients over it.
AXIS = 'batch'


def global_rows(draw, rng, local_num: int, axis_name: Optional[str]):
  """`draw(rng, num)` for the global batch, then this device's `local_num` rows.

  Drawing per device would make the numbers depend on the device count; drawing globally and
  slicing costs a little redundant generation and keeps runs over 1 or 8 devices identical.
  Latents, labels, DiffAugment's transforms and the gradient penalty's mixing weights all do so.
  """
  if axis_name is None:
    return draw(rng, local_num)
  rows = draw(rng, local_num * jax.lax.axis_size(axis_name))
  return jax.lax.dynamic_slice_in_dim(rows, jax.lax.axis_index(axis_name) * local_num, local_num)


def sample_latent(rng: jax.Array, num: int, latent_dim: int, prior: str,
                  truncation: float = 0.0) -> jax.Array:
  """z ~ N(0, I) or U(-1, 1)^d, the two priors of the seeds.

  `truncation` T > 0 is the truncation trick (Brock et al. 2019, BigGAN): each entry drawn from
  the prior restricted to [-T, T] (a truncated normal, or U(-T, T) for T < 1), trading the
  samples' variety for their typicality at sampling time. 0: the prior itself, drawn as always.
  """
  if truncation < 0:
    raise ValueError(f'truncation={truncation} must be >= 0 (0: off).')
  if prior == 'normal':
    if truncation:
      return jax.random.truncated_normal(rng, -truncation, truncation, (num, latent_dim))
    return jax.random.normal(rng, (num, latent_dim))
  if prior == 'uniform':
    bound = min(truncation, 1.0) if truncation else 1.0
    return jax.random.uniform(rng, (num, latent_dim), minval=-bound, maxval=bound)
  raise ValueError(f'Unknown prior {prior!r}; choose normal or uniform.')


class Dropout(nn.Module):
  """Dropout whose mask is drawn for the global batch and sliced for this device.

  Why not `nn.Dropout`: it draws the mask for the local batch, so the same global batch on 1 or 8
  devices would see different masks. Drawing for the global batch keeps a run's numbers
  independent of the device count (the trainer's equivalence test relies on it).
  `broadcast_dims` drops whole channels (PyTorch's Dropout2d) when set to the spatial dims.
  """
  rate: float
  axis_name: Optional[str] = None
  broadcast_dims: Sequence[int] = ()

  @nn.compact
  def __call__(self, x, *, train: bool):
    if not train or self.rate == 0.0:
      return x
    shape = list(x.shape)
    for d in self.broadcast_dims:
      shape[d] = 1
    rng = self.make_rng('dropout')
    if self.axis_name is None:
      keep = jax.random.bernoulli(rng, 1.0 - self.rate, shape)
    else:
      n, i = jax.lax.axis_size(self.axis_name), jax.lax.axis_index(self.axis_name)
      global_shape = (shape[0] * n, *shape[1:])
      keep = jax.random.bernoulli(rng, 1.0 - self.rate, global_shape)
      keep = jax.lax.dynamic_slice_in_dim(keep, i * shape[0], shape[0], axis=0)
    return jnp.where(keep, x / (1.0 - self.rate), 0.0)


# Momentum 0.9 as PyTorch's 0.1: running statistics follow G and D quickly. gan_jax.ema relies on
# every BatchNorm using it.
BN_MOMENTUM = 0.9


def batch_norm(train: bool, axis_name: Optional[str], name: Optional[str] = None, **kw):
  # Statistics over the global batch (pmean across devices), so results do not depend on how
  # many devices share it.
  return nn.BatchNorm(use_running_average=not train, axis_name=axis_name if train else None,
                      momentum=BN_MOMENTUM, epsilon=1e-5, name=name, **kw)


class ConditionalBatchNorm(nn.Module):
  """BatchNorm whose gain and bias are those of each example's class (de Vries et al. 2017; the
  generators of Miyato & Koyama 2018 and BigGAN): the statistics are the global batch's, as in
  `batch_norm`, and the affine part is two embeddings of the class, gains starting at 1 and
  biases at 0 (at init the plain BatchNorm's)."""
  num_classes: int
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x, labels, *, train: bool):
    x = batch_norm(train, self.axis_name, use_scale=False, use_bias=False)(x)
    features = x.shape[-1]
    # (B, 1, ..., 1, C): one gain and one bias per example, shared over its positions.
    shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (features,)
    gain = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.ones,
                    name='gain')(labels)
    bias = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.zeros,
                    name='bias')(labels)
    return x * gain.reshape(shape) + bias.reshape(shape)


def spectral_norm(layer: nn.Module, enabled: bool) -> Any:
  """`layer` with its weight matrices divided by their largest singular value (Miyato et al.
  2018), estimated by one power iteration per training-mode call, or `layer` as it is.

  Call the result with `update_stats=train` when enabled (see `apply_layer`). The power-iteration
  vectors live in the 'batch_stats' collection beside BatchNorm's statistics: like them they
  change in training mode only and travel with the state into every step, device and
  checkpoint. They need no averaging across devices: they depend only on the weights, which
  every device holds identically. Conv kernels (H, W, I, O) are normalised as (H*W*I, O)
  matrices, which have the singular values of the (O, H*W*I) view of the paper.
  """
  return nn.SpectralNorm(layer) if enabled else layer


def apply_layer(layer, x, *, train: bool):
  """Calls a layer that spectral_norm may have wrapped."""
  if isinstance(layer, nn.SpectralNorm):
    return layer(x, update_stats=train)
  return layer(x)


def minibatch_std(x, group_size: int):
  """x (N, H, W, C) with one more channel: the standard deviation of every feature over groups
  of `group_size` consecutive examples, averaged over features and positions, the same value
  for each example of a group (Karras et al. 2018, "minibatch standard deviation").

  D sees how much a group of its inputs varies, which a G that collapses to a few modes cannot
  fake. Groups are consecutive rows, so a device's slice of the global batch forms the same
  groups as the whole batch whenever its size is a multiple of `group_size`; a batch smaller
  than the group (D's init) is one group.
  """
  n = x.shape[0]
  group = min(group_size, n)
  if n % group:
    raise ValueError(f'minibatch_std: a batch of {n} on a device does not split into groups '
                     f'of {group_size}; make the per-device batch a multiple of it.')
  y = x.reshape(n // group, group, *x.shape[1:])
  std = jnp.sqrt(jnp.var(y, axis=1) + 1e-8).mean(axis=tuple(range(1, x.ndim)))
  planes = jnp.broadcast_to(jnp.repeat(std, group)[:, None, None, None], (*x.shape[:3], 1))
  return jnp.concatenate([x, planes.astype(x.dtype)], axis=-1)


def one_hot_labels(labels, num_classes: int):
  return jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
