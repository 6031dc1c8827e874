"""Generators and discriminators, chosen by `config.model`.

A dict from name to constructor is all the indirection there is (scenic's "fork rather than
abstract"): a new architecture is a new entry.
"""
from typing import Optional, Tuple

import flax.linen as nn
import ml_collections

from gan_jax import info
from gan_jax.models.dcgan import (DCGANDiscriminator, DCGANGenerator, SeedDiscriminator32,
                                  SeedGenerator32)
from gan_jax.models.mlp import MLPDiscriminator, MLPGenerator


def _mlp(config, shape, num_classes, axis_name):
  kw = dict(dropout=config.mlp.dropout, num_classes=num_classes, axis_name=axis_name)
  return (MLPGenerator(output_shape=shape, hidden=tuple(config.mlp.g_hidden),
                       batch_norm=config.mlp.get('g_batch_norm', True),
                       activation=config.mlp.get('g_activation', 'leaky_relu'), **kw),
          MLPDiscriminator(hidden=tuple(config.mlp.d_hidden), pack=config.mlp.get('pack', 1),
                           maxout=config.mlp.get('maxout', 0), **kw))


def _dcgan(config, shape, num_classes, axis_name):
  size, channels = shape[0], shape[-1]
  kw = dict(image_size=size, kernel_size=config.dcgan.kernel_size,
            fc_hidden=config.dcgan.get('fc_hidden', 0), num_classes=num_classes,
            axis_name=axis_name)
  codes = info.of_config(config)
  g_width = config.dcgan.get('g_width', 0) or config.dcgan.width
  d_kernel = config.dcgan.get('d_kernel_size', 0) or config.dcgan.kernel_size
  return (DCGANGenerator(channels=channels, width=g_width,
                         upsample_impl=config.dcgan.upsample_impl,
                         upsampling=config.dcgan.get('g_upsampling', 'transposed'),
                         batch_norm=config.dcgan.get('g_batch_norm', True),
                         spectral_norm=config.dcgan.get('g_spectral_norm', False),
                         info_categories=codes.categories,
                         conditioning=config.dcgan.get('g_conditioning', 'input'), **kw),
          DCGANDiscriminator(width=config.dcgan.width, norm=config.dcgan.get('d_norm', 'batch'),
                             conv_impl=config.dcgan.get('conv_impl', 'auto'),
                             minibatch_std=config.dcgan.get('minibatch_std', 0),
                             dropout=config.dcgan.get('d_dropout', 0.0),
                             conditioning=config.dcgan.get('d_conditioning', 'planes'),
                             info_outputs=codes.outputs, **{**kw, 'kernel_size': d_kernel}))


def _dcgan_seed32(config, shape, num_classes, axis_name):
  if shape != (32, 32, shape[-1]) or num_classes:
    raise ValueError(f'dcgan_seed32 makes unconditional 32x32 images, not {shape}'
                     f'{" with labels" if num_classes else ""}; set --config.image_size=32.')
  conv_impl = config.dcgan.get('conv_impl', 'auto')
  return (SeedGenerator32(channels=shape[-1], conv_impl=conv_impl, axis_name=axis_name),
          SeedDiscriminator32(conv_impl=conv_impl, axis_name=axis_name))


MODELS = {'mlp': _mlp, 'dcgan': _dcgan, 'dcgan_seed32': _dcgan_seed32}


def create_models(config: ml_collections.ConfigDict, *, data_shape: Tuple[int, ...],
                  num_classes: int = 0,
                  axis_name: Optional[str] = None) -> Tuple[nn.Module, nn.Module]:
  """(generator, discriminator) for `config.model` producing samples of `data_shape`."""
  if config.model not in MODELS:
    raise ValueError(f'Unknown model {config.model!r}; choose one of {sorted(MODELS)}.')
  return MODELS[config.model](config, tuple(data_shape), num_classes, axis_name)
