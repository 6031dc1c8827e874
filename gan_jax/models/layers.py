"""Layers shared by the generators and discriminators."""
from typing import Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

# The name of the device axis under pmap / shard_map: BatchNorm averages its statistics over it,
# dropout draws its mask for the global batch along it, and the steps average gradients over it.
AXIS = 'batch'


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


def batch_norm(train: bool, axis_name: Optional[str], name: Optional[str] = None):
  # Statistics over the global batch (pmean across devices), so results do not depend on how
  # many devices share it. Momentum 0.9 as PyTorch's 0.1: running stats follow G and D quickly.
  return nn.BatchNorm(use_running_average=not train, axis_name=axis_name if train else None,
                      momentum=0.9, epsilon=1e-5, name=name)


def one_hot_labels(labels, num_classes: int):
  return jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
