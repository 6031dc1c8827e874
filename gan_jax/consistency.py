"""Consistency regularisation of D (Zhang et al. 2020, "CR-GAN"; Zhao et al. 2021, "Improved
Consistency Regularization for GANs", bCR): D's logit should not change when an image is moved
by a few pixels (or mirrored), a change that does not make it more or less real.

  L_D = L_adv + lambda_real E |D(x) - D(T(x))|^2 + lambda_fake E |D(G(z)) - D(T(G(z)))|^2

D learns from both sides of each difference; G's loss is unchanged. CR-GAN penalises real images
only (lambda_fake = 0); bCR penalises both, lambda 10 each, with T a random translation and
horizontal flip (flips are off by default here: a mirrored digit is not a digit).

T here is an integer shift of up to `max_shift` pixels in each direction, the image's border
pixels replicated into the space it leaves (on MNIST that is background; DiffAugment's
translation fills with 0, mid-grey in [-1, 1], which would make T(x) look unlike the data).
Shifts and flips are drawn for the global batch and sliced per device (`layers.global_rows`), so
1 and 8 devices compute the same numbers.
"""
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from gan_jax import augment as diff_augment
from gan_jax.models import layers


class Consistency(NamedTuple):
  """The penalty's weights and transform; a NamedTuple, so that it is a static step argument."""
  real: float = 0.0  # lambda_real (bCR: 10); 0 with `fake` 0: off.
  fake: float = 0.0  # lambda_fake (bCR: 10).
  max_shift: int = 2  # Largest translation in pixels, each axis.
  flip: bool = False  # Also mirror half of the images left-right (bCR's CIFAR transform).

  @property
  def on(self) -> bool:
    return self.real > 0 or self.fake > 0


def of_config(config) -> Consistency:
  """The config's `consistency` block (off when the config has none)."""
  if 'consistency' not in config:
    return Consistency()
  c = config.consistency
  return Consistency(float(c.real), float(c.fake), int(c.max_shift), bool(c.flip))


def transform(x, rng, cr: Consistency, axis_name: Optional[str] = None):
  """T(x): each image of this device's rows shifted (and flipped) with draws for the global
  batch. Differentiable in `x`."""
  num, r = x.shape[0], cr.max_shift
  shift_key, flip_key = jax.random.split(rng)
  shifts = layers.global_rows(lambda k, n: jax.random.randint(k, (n, 2), -r, r + 1), shift_key,
                              num, axis_name)
  if cr.flip:  # Static.
    flips = layers.global_rows(lambda k, n: jax.random.bernoulli(k, 0.5, (n,)), flip_key, num,
                               axis_name)
    x = jnp.where(flips[:, None, None, None], x[:, :, ::-1], x)
  # DiffAugment's exact shift with the border replicated; -shifts: each image moved by its draw.
  return diff_augment.translate(x, -shifts, (r, r), mode='edge')


def penalty(logits, transformed_logits):
  """E |D(x) - D(T(x))|^2 over the batch (one logit per image)."""
  return jnp.mean(jnp.square(logits - transformed_logits))
