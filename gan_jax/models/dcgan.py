"""DCGAN (Radford et al. 2016) and the seed's 32x32 net (seed 002, "Practice 2").

`DCGANGenerator`/`DCGANDiscriminator` follow the paper's guidelines: no pooling (strided
convolutions in D, fractional-strided ones in G), BatchNorm in both but not on G's output or D's
input, no fully connected hidden layers (z is projected and reshaped, the paper's first layer; D's
last feature map is flattened into one logit; `fc_hidden` adds one to each, which makes the 28x28
nets InfoGAN's MNIST pair of Chen et al. 2016, as in Lucic et al. 2018), ReLU in G with a Tanh
output, LeakyReLU(0.2) in D,
N(0, 0.02) weights. Layers followed by BatchNorm carry no bias: BN cancels it, so its true
gradient is zero and Adam would only amplify float noise into full-size steps (which breaks the
equality of runs over different device counts).
"""
import math
from typing import Optional

import flax.linen as nn
import jax.numpy as jnp

from gan_jax import info
from gan_jax.models import conv, layers
from gan_jax.models.upsample import Upsample

_init = nn.initializers.normal(0.02)


def num_upsamplings(image_size: int) -> int:
  """28 -> 7x7 start, 32/64 -> 4x4 start, doubling each layer."""
  start = 7 if image_size % 7 == 0 else 4
  n = math.log2(image_size / start)
  if n < 1 or n != int(n):
    raise ValueError(f'DCGAN cannot make {image_size}x{image_size} images: the size must be '
                     f'7*2^n or 4*2^n (e.g. 28, 32, 64). Set --config.image_size accordingly.')
  return int(n)


# How G doubles its feature maps: a transposed conv (the paper's fractional-strided conv, 4x4
# kernels, `Upsample`), or nearest-neighbour upsampling followed by a 3x3 conv (Odena et al.
# 2016's "resize-convolution"), whose four output phases share one kernel's taps, so it cannot
# make the checkerboard patterns of a transposed conv's unevenly weighted phases.
G_UPSAMPLINGS = ('transposed', 'resize')
# How a conditional G takes the label: beside z at its input (Mirza & Osindero's cGAN), or as
# the gain and bias of each of its BatchNorms (conditional BatchNorm, layers.ConditionalBatchNorm).
G_CONDITIONINGS = ('input', 'batch_norm')


class DCGANGenerator(nn.Module):
  image_size: int = 28
  channels: int = 1
  width: int = 64  # Feature maps of the last hidden layer; doubles towards the 4x4 (7x7) start.
  kernel_size: int = 4
  num_classes: int = 0
  upsample_impl: str = 'auto'
  batch_norm: bool = True  # The paper's; without it the hidden layers carry biases.
  spectral_norm: bool = False  # On every layer as well (SAGAN, BigGAN).
  fc_hidden: int = 0  # > 0: a fully connected hidden layer between z and the projection (InfoGAN).
  info_categories: int = 0  # > 0: z's first entries carry InfoGAN's categorical code (info.py).
  conditioning: str = 'input'  # With num_classes: one of G_CONDITIONINGS.
  upsampling: str = 'transposed'  # One of G_UPSAMPLINGS.
  axis_name: Optional[str] = None

  def _upsample(self, features, use_bias):
    if self.upsampling == 'transposed':
      return Upsample(features, self.kernel_size, use_bias=use_bias, impl=self.upsample_impl)
    # conv_upsampled2 computes the conv of the upsampled map without building it (2x2 taps per
    # output phase instead of 3x3, the same multiply-adds as the 4x4 transposed conv).
    return nn.Conv(features, (3, 3), padding=1, use_bias=use_bias, kernel_init=_init,
                   conv_general_dilated=conv.conv_upsampled2)

  @nn.compact
  def __call__(self, z, labels=None, *, train: bool):
    if self.upsampling not in G_UPSAMPLINGS:
      raise ValueError(f'Unknown G upsampling {self.upsampling!r}; choose one of {G_UPSAMPLINGS}.')
    if self.conditioning not in G_CONDITIONINGS:
      raise ValueError(f'Unknown G conditioning {self.conditioning!r}; choose one of '
                       f'{G_CONDITIONINGS}.')
    by_norm = bool(self.num_classes) and self.conditioning == 'batch_norm'
    if by_norm and not self.batch_norm:
      raise ValueError("G's conditioning 'batch_norm' needs G's BatchNorm (g_batch_norm).")
    n = num_upsamplings(self.image_size)
    start = self.image_size >> n
    sn = lambda layer, x: layers.apply_layer(  # noqa: E731
        layers.spectral_norm(layer, self.spectral_norm), x, train=train)

    def norm(x):
      if by_norm:
        return layers.ConditionalBatchNorm(self.num_classes, self.axis_name)(x, labels,
                                                                             train=train)
      return layers.batch_norm(train, self.axis_name)(x) if self.batch_norm else x

    x = info.generator_input(z, self.info_categories)
    if self.num_classes and not by_norm:  # Mirza & Osindero: the label enters with z.
      x = jnp.concatenate([x, layers.one_hot_labels(labels, self.num_classes)], axis=-1)
    features = self.width * 2 ** (n - 1)
    bias = not self.batch_norm
    if self.fc_hidden:
      x = nn.relu(norm(sn(nn.Dense(self.fc_hidden, use_bias=bias, kernel_init=_init), x)))
    x = sn(nn.Dense(start * start * features, use_bias=bias, kernel_init=_init), x)
    x = x.reshape((z.shape[0], start, start, features))
    x = nn.relu(norm(x))
    for i in range(n - 1):
      x = sn(self._upsample(features // 2 ** (i + 1), bias), x)
      x = nn.relu(norm(x))
    x = sn(self._upsample(self.channels, True), x)
    return jnp.tanh(x)


D_NORMS = ('batch', 'spectral', 'none')
# How a conditional D sees the label: as constant one-hot planes beside the image (the cGAN of
# Mirza & Osindero, as DCGAN-style cGANs do), or by projection (Miyato & Koyama 2018): the
# unconditional logit plus <V[y], phi(x)>, V an embedding of the classes and phi(x) D's last
# features.
D_CONDITIONINGS = ('planes', 'projection')


class DCGANDiscriminator(nn.Module):
  """`norm`: 'batch' (the paper's BatchNorm after every conv but the first), 'spectral' (every
  layer spectrally normalised and no BatchNorm, Miyato et al. 2018) or 'none' (WGAN-GP's D,
  whose gradient penalty needs examples that do not mix)."""
  image_size: int = 28
  width: int = 64
  kernel_size: int = 4
  num_classes: int = 0
  norm: str = 'batch'
  fc_hidden: int = 0  # > 0: a fully connected hidden layer before the logit (InfoGAN).
  # > 0: the minibatch standard deviation over groups of this many examples joins the last
  # feature map as one more channel (layers.minibatch_std; ProGAN's 4).
  minibatch_std: int = 0
  # > 0: dropout at this rate after each hidden activation (the TensorFlow DCGAN tutorial's 0.3),
  # its mask drawn for the global batch (layers.Dropout).
  dropout: float = 0.0
  # > 0: InfoGAN's Q head with this many outputs, sown as intermediates 'info' (gan_jax/info.py).
  info_outputs: int = 0
  conditioning: str = 'planes'  # With num_classes: one of D_CONDITIONINGS.
  conv_impl: str = 'auto'  # The convs' backward: 'auto', 'xla' or 'dot_grad' (`conv.pick`).
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool):
    if self.norm not in D_NORMS:
      raise ValueError(f'Unknown D norm {self.norm!r}; choose one of {D_NORMS}.')
    if self.conditioning not in D_CONDITIONINGS:
      raise ValueError(f'Unknown D conditioning {self.conditioning!r}; choose one of '
                       f'{D_CONDITIONINGS}.')
    n = num_upsamplings(self.image_size)
    spectral = self.norm == 'spectral'
    as_planes = bool(self.num_classes) and self.conditioning == 'planes'
    if as_planes:  # The label enters D as constant one-hot planes beside the image.
      planes = layers.one_hot_labels(labels, self.num_classes)[:, None, None, :]
      x = jnp.concatenate([x, jnp.broadcast_to(planes, (*x.shape[:3], self.num_classes))], -1)
    k = (self.kernel_size, self.kernel_size)
    for i in range(n):
      batch_norm = self.norm == 'batch' and i > 0  # No BatchNorm on D's input layer.
      conv_fn = conv.pick(self.conv_impl)
      if i == 0 and as_planes:  # Not the planes' (1 + num_classes)-fold work.
        conv_fn = conv.constant_planes(x.shape[-1] - self.num_classes, conv_fn)
      layer = nn.Conv(self.width * 2 ** i, k, (2, 2), use_bias=not batch_norm, kernel_init=_init,
                      conv_general_dilated=conv_fn)
      x = layers.apply_layer(layers.spectral_norm(layer, spectral), x, train=train)
      if batch_norm:
        x = layers.batch_norm(train, self.axis_name)(x)
      x = layers.Dropout(self.dropout, self.axis_name)(nn.leaky_relu(x, 0.2), train=train)
    if self.minibatch_std:
      x = layers.minibatch_std(x, self.minibatch_std)
    x = x.reshape((x.shape[0], -1))
    if self.fc_hidden:
      batch_norm = self.norm == 'batch'
      dense = nn.Dense(self.fc_hidden, use_bias=not batch_norm, kernel_init=_init)
      x = layers.apply_layer(layers.spectral_norm(dense, spectral), x, train=train)
      if batch_norm:
        x = layers.batch_norm(train, self.axis_name)(x)
      x = layers.Dropout(self.dropout, self.axis_name)(nn.leaky_relu(x, 0.2), train=train)
    if self.info_outputs:  # Q shares D's layers up to here, as in InfoGAN.
      batch_norm = self.norm == 'batch'
      dense = nn.Dense(128, use_bias=not batch_norm, kernel_init=_init, name='q_hidden')
      q = layers.apply_layer(layers.spectral_norm(dense, spectral), x, train=train)
      if batch_norm:
        q = layers.batch_norm(train, self.axis_name, name='q_norm')(q)
      q = nn.Dense(self.info_outputs, kernel_init=_init, name='q_out')(nn.leaky_relu(q, 0.2))
      self.sow('intermediates', 'info', q)
    dense = layers.spectral_norm(nn.Dense(1, kernel_init=_init), spectral)
    logit = layers.apply_layer(dense, x, train=train)[:, 0]
    if self.num_classes and not as_planes:
      embed = layers.spectral_norm(
          nn.Embed(self.num_classes, x.shape[-1], embedding_init=_init, name='projection'),
          spectral)
      logit += jnp.sum(layers.apply_layer(embed, labels, train=train) * x, axis=-1)
    return logit


def _upsample_nearest(x):
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


# The public code behind the seed's table passes 0.8 as BatchNorm's epsilon through a positional
# slip (`BatchNorm2d(c, 0.8)` meant momentum); we use the normal epsilon of `layers.batch_norm`.
class SeedGenerator32(nn.Module):
  """G: Linear 100->8192, 128x8x8, BN, Up, Conv 128, BN, LReLU, Up, Conv 64, BN, LReLU, Conv 1."""
  channels: int = 1
  conv_impl: str = 'auto'  # The convs' backward: see `conv.pick`.
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, z, labels=None, *, train: bool):
    x = nn.Dense(128 * 8 * 8)(z).reshape((z.shape[0], 8, 8, 128))
    x = layers.batch_norm(train, self.axis_name)(x)
    conv_fn = conv.pick(self.conv_impl)
    for features in (128, 64):
      if conv_fn is None:  # lax's conv of the upsampled map, as the seed's code computes it.
        x = nn.Conv(features, (3, 3), padding=1)(_upsample_nearest(x))
      else:  # The same function and params without the upsampled map's repeated taps.
        x = nn.Conv(features, (3, 3), padding=1,
                    conv_general_dilated=conv.conv_upsampled2)(x)
      x = nn.leaky_relu(layers.batch_norm(train, self.axis_name)(x), 0.2)
    return jnp.tanh(nn.Conv(self.channels, (3, 3), padding=1, conv_general_dilated=conv_fn)(x))


class SeedDiscriminator32(nn.Module):
  """D: Conv s2 16, then 32/64/128 blocks of Conv s2, LReLU, Dropout2d(0.25), BN; Linear 512->1."""
  conv_impl: str = 'auto'
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x, labels=None, *, train: bool):
    for i, features in enumerate((16, 32, 64, 128)):
      x = nn.Conv(features, (3, 3), (2, 2), padding=1,  # PyTorch's padding=1 alignment.
                  conv_general_dilated=conv.pick(self.conv_impl))(x)
      x = nn.leaky_relu(x, 0.2)
      x = layers.Dropout(0.25, self.axis_name, broadcast_dims=(1, 2))(x, train=train)
      if i > 0:
        x = layers.batch_norm(train, self.axis_name)(x)
    return nn.Dense(1)(x.reshape((x.shape[0], -1)))[:, 0]
