"""Sample grids as PNG files and TensorBoard images."""
import os

import numpy as np
from PIL import Image


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


def save_png(path: str, grid: np.ndarray) -> None:
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path)
