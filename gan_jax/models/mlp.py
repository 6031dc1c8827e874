"""The vanilla MLP GAN (seed 002, "Practice 1"), and its conditional form (Mirza & Osindero).

Generator: z(100) -> 256 -> 512 -> 1024 -> 784, each hidden layer Linear -> LeakyReLU(0.2) ->
BatchNorm, Dropout before the output, Tanh: 1,489,936 parameters. Discriminator: Dropout -> 512 ->
256 -> 1 with LeakyReLU(0.2): 533,505 parameters. With `num_classes` the one-hot label is
concatenated to z (G) and to the flattened input (D).
"""
from typing import Optional, Sequence, Tuple

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from gan_jax.models import layers

# G's hidden units. A G of piecewise-linear units has a piecewise-constant density in 1-D, with
# steps that D has to follow; tanh's is smooth (experiments/toy1d/README.md).
ACTIVATIONS = {'leaky_relu': lambda x: nn.leaky_relu(x, 0.2), 'tanh': nn.tanh, 'gelu': nn.gelu,
               'silu': nn.silu}


class MLPGenerator(nn.Module):
  output_shape: Tuple[int, ...] = (28, 28, 1)
  hidden: Sequence[int] = (256, 512, 1024)
  dropout: float = 0.3
  num_classes: int = 0
  axis_name: Optional[str] = None
  batch_norm: bool = True  # False for the 2-D toys: a sample should not depend on its batch.
  activation: str = 'leaky_relu'  # A key of ACTIVATIONS.

  @nn.compact
  def __call__(self, z, labels=None, *, train: bool):
    x = z
    if self.num_classes:
      x = jnp.concatenate([x, layers.one_hot_labels(labels, self.num_classes)], axis=-1)
    for width in self.hidden:
      x = nn.Dense(width)(x)
      x = ACTIVATIONS[self.activation](x)
      if self.batch_norm:
        x = layers.batch_norm(train, self.axis_name)(x)
    x = layers.Dropout(self.dropout, self.axis_name)(x, train=train)
    x = nn.Dense(int(np.prod(self.output_shape)))(x)
    return jnp.tanh(x).reshape((z.shape[0], *self.output_shape))


class MLPDiscriminator(nn.Module):
  hidden: Sequence[int] = (512, 256)
  dropout: float = 0.3
  num_classes: int = 0
  axis_name: Optional[str] = None
  # PacGAN (Lin et al. 2018): D judges `pack` samples at once, concatenated, and returns one
  # logit per pack, so it sees the joint law of `pack` samples: a G that drops modes makes packs
  # that differ from real ones more than single samples do. The batch must split into packs.
  pack: int = 1
  # > 0: maxout units with this many pieces (Goodfellow et al. 2013; PacGAN's 2-D D uses 5).
  maxout: int = 0

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool):
    x = x.reshape((x.shape[0], -1))
    if self.num_classes:
      x = jnp.concatenate([x, layers.one_hot_labels(labels, self.num_classes)], axis=-1)
    if x.shape[0] % self.pack:
      raise ValueError(f'A batch of {x.shape[0]} does not split into packs of {self.pack}.')
    x = x.reshape((x.shape[0] // self.pack, -1))
    x = layers.Dropout(self.dropout, self.axis_name)(x, train=train)
    for width in self.hidden:
      if self.maxout:
        x = nn.Dense(width * self.maxout)(x).reshape((*x.shape[:-1], width, self.maxout)).max(-1)
      else:
        x = nn.leaky_relu(nn.Dense(width)(x), 0.2)
    return nn.Dense(1)(x)[:, 0]  # A logit: the sigmoid lives in the loss.
