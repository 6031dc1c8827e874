"""Sample grids as PNG files and TensorBoard images."""
import io
import os

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from gan_jax import steps


def make_grid(images: np.ndarray, nrow: int, pad: int = 2) -> np.ndarray:
  """(N, H, W, C) in [-1, 1] -> one uint8 (rows*(H+pad)+pad, ..., C) image, `nrow` per row."""
  images = np.asarray(images, np.float32)
  n, h, w, c = images.shape
  ncol = -(-n // nrow)
  grid = np.full((ncol * (h + pad) + pad, nrow * (w + pad) + pad, c), 255, np.uint8)
  pixels = np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)
  for i in range(n):
    r, col = divmod(i, nrow)
    grid[pad + r * (h + pad):pad + r * (h + pad) + h,
         pad + col * (w + pad):pad + col * (w + pad) + w] = pixels[i]
  return grid


def png_bytes(grid: np.ndarray) -> bytes:
  """A uint8 (H, W, C) image, C 1 or 3, encoded as PNG."""
  buf = io.BytesIO()
  Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(buf, format='PNG')
  return buf.getvalue()


def save_png(path: str, grid: np.ndarray) -> None:
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  with open(path, 'wb') as f:
    f.write(png_bytes(grid))


def fixed_latents(config, state: steps.GANState):
  """The latent batch every sample grid uses, so grids over training are comparable."""
  n = config.sample_grid_size
  rng = jax.random.fold_in(jax.random.PRNGKey(config.seed), 0x5A4D)  # Not the training stream.
  # One row per class (conditional) or per InfoGAN category, the same z down each column.
  categories = getattr(state.generator, 'info_categories', 0)
  if state.num_classes or categories:
    rows = min(state.num_classes or categories, n)
    z = jnp.tile(steps.sample_latent(rng, n, state.latent_dim, state.prior), (rows, 1))
    row = jnp.repeat(jnp.arange(rows), n)
    if state.num_classes:
      return z, row
    # G reads only the argmax of these entries (gan_jax/info.py).
    return z.at[:, :categories].set(jax.nn.one_hot(row, categories, dtype=z.dtype)), None
  return steps.sample_latent(rng, n * n, state.latent_dim, state.prior), None


def sample_grid(config, state: steps.GANState, z, labels) -> np.ndarray:
  """G(z | labels) in inference mode as one grid image, `config.sample_grid_size` per row."""
  samples = jax.device_get(steps.generate_samples(state, z, labels))
  return make_grid(samples, nrow=config.sample_grid_size)
