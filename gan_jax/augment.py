"""DiffAugment: differentiable augmentations of every image the discriminator sees.

Zhao, Liu, Lin, Zhu and Han (2020), "Differentiable Augmentation for Data-Efficient GAN Training"
(arXiv:2006.10738): D is shown real and generated images under the same random colour, translation
and cutout transforms, and G's gradient flows back through them, so D cannot overfit a small data
set while G is not taught to produce augmented images. The transforms and constants are those of
the authors' DiffAugment_pytorch.py (mit-han-lab/data-efficient-gans), on NHWC images in [-1, 1].

Every per-image parameter is drawn for the global batch and this device's rows sliced (as
`layers.global_rows` does for latents): drawing per device would make the augmentations
depend on the device count, so 1 and 8 devices would no longer compute the same numbers.
"""
from typing import Optional

import jax
import jax.numpy as jnp

from gan_jax.models import layers

POLICIES = ('color', 'translation', 'cutout')  # Also the order in which they are applied.
TRANSLATION_RATIO = 1 / 8  # Largest shift, as a fraction of the image side.
CUTOUT_RATIO = 1 / 2  # Side of the zeroed square, as a fraction of the image side.


def _translation_radius(size: int) -> int:
  return int(size * TRANSLATION_RATIO + 0.5)


def _cutout_size(size: int) -> int:
  return int(size * CUTOUT_RATIO + 0.5)


def _color_draws(rng, num: int, dtype):
  """(num, 3): brightness U(-0.5, 0.5), saturation U(0, 2), contrast U(0.5, 1.5) per image."""
  u = jax.random.uniform(rng, (num, 3), dtype)
  return u * jnp.array([1.0, 2.0, 1.0], dtype) + jnp.array([-0.5, 0.0, 0.5], dtype)


def _translation_draws(rng, num: int, height: int, width: int):
  """(num, 2) integer shifts (rows, columns), each uniform in [-radius, radius]."""
  radius = jnp.array([_translation_radius(height), _translation_radius(width)])
  return jax.random.randint(rng, (num, 2), -radius, radius + 1)


def _cutout_draws(rng, num: int, height: int, width: int):
  """(num, 2) centres (row, column) of the cut squares, as the reference draws them."""
  # The reference's bound: one more position when the square's side is even.
  bound = jnp.array([height + 1 - _cutout_size(height) % 2, width + 1 - _cutout_size(width) % 2])
  return jax.random.randint(rng, (num, 2), 0, bound)


def _color(x, brightness, saturation, contrast):
  """The reference's rand_brightness, rand_saturation, rand_contrast with given (B,) draws."""
  per_image = lambda v: v.reshape(-1, 1, 1, 1)
  x = x + per_image(brightness)
  mean = x.mean(axis=3, keepdims=True)  # Per pixel: saturation scales the distance from grey.
  x = (x - mean) * per_image(saturation) + mean
  mean = x.mean(axis=(1, 2, 3), keepdims=True)
  return (x - mean) * per_image(contrast) + mean


def translate(x, shifts, radius, mode: str = 'constant'):
  """out[b, i, j] = x[b, i + shifts[b, 0], j + shifts[b, 1]] for |shifts| <= radius (rows,
  columns); outside the image 0 ('constant', DiffAugment's) or the nearest border pixel ('edge',
  consistency regularisation's)."""
  _, height, width, channels = x.shape
  rh, rw = radius
  padded = jnp.pad(x, ((0, 0), (rh, rh), (rw, rw), (0, 0)), mode=mode)
  # Starts lie in [0, 2 * radius], so dynamic_slice never clamps them: the shift is exact.
  one = lambda image, s: jax.lax.dynamic_slice(image, (s[0] + rh, s[1] + rw, 0),
                                               (height, width, channels))
  return jax.vmap(one)(padded, shifts)


def _cutout_mask(x, centres):
  """(B, H, W, 1): 0 on each image's square of side `_cutout_size` at `centres`, 1 elsewhere."""
  _, height, width, _ = x.shape
  size = jnp.array([_cutout_size(height), _cutout_size(width)])
  start = centres - size // 2  # (B, 2): the square's top-left corner, possibly off the image.
  # Comparing against the image's own coordinates clips the square to the image, as the
  # reference's clamped indices do (its centres never put the whole square off the image).
  inside = lambda coords, d: ((coords >= start[:, d, None]) &
                              (coords < start[:, d, None] + size[d]))
  cut = inside(jnp.arange(height), 0)[:, :, None] & inside(jnp.arange(width), 1)[:, None, :]
  return jnp.where(cut, 0, 1).astype(x.dtype)[..., None]


def _parse(policy: str):
  names = {name.strip() for name in policy.split(',') if name.strip()}
  unknown = sorted(names - set(POLICIES))
  if unknown:
    raise ValueError(f'Unknown DiffAugment policy {unknown}: choose a comma-separated subset of '
                     f'{POLICIES}.')
  return names


def diff_augment(x, rng, policy: str = 'color,translation,cutout', *,
                 axis_name: Optional[str] = None):
  """Augments a batch of images, differentiably w.r.t. `x`.

  Args:
    x: (B, H, W, C) float images in [-1, 1]: this device's rows of the global batch.
    rng: one key for the whole global batch; the same on every device.
    policy: comma-separated subset of POLICIES, applied in POLICIES' order whatever the order
      written; '' returns `x` unchanged.
    axis_name: the device axis under pmap / shard_map, or None on one device.

  Returns:
    The augmented images, shaped as `x`. Each op draws from `fold_in(rng, its index in
    POLICIES)`, so enabling one op leaves the others' draws unchanged.
  """
  names = _parse(policy)
  num, height, width, _ = x.shape
  key = lambda name: jax.random.fold_in(rng, POLICIES.index(name))
  if 'color' in names:
    draws = layers.global_rows(lambda k, n: _color_draws(k, n, x.dtype), key('color'), num,
                               axis_name)
    x = _color(x, draws[:, 0], draws[:, 1], draws[:, 2])
  if 'translation' in names:
    shifts = layers.global_rows(lambda k, n: _translation_draws(k, n, height, width),
                          key('translation'), num, axis_name)
    x = translate(x, shifts, (_translation_radius(height), _translation_radius(width)))
  if 'cutout' in names:
    centres = layers.global_rows(lambda k, n: _cutout_draws(k, n, height, width),
                           key('cutout'), num, axis_name)
    x = x * _cutout_mask(x, centres)
  return x
