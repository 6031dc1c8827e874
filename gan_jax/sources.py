"""Data sets that are not tfds: the 1-D Gaussian, the 2-D mixtures, the Olivetti faces.

Each is `fn(dataset_config, split) -> {'image', 'label', 'num_classes'}`, registered in `SOURCES`
by name, where `input_pipeline.load_split` looks first. Toy data are float32 in the generator's
[-1, 1] range (its output is a tanh): the mixtures are divided by `dataset.scale`, and the
experiments multiply by it again before measuring. Draws are a pure function of
(dataset.seed, split).
"""
import pathlib

import numpy as np

from gan_jax import data_dir
from gan_jax import toy

_SPLIT_SEED = {'train': 0, 'test': 1}


def _rng(dataset, split):
  return np.random.default_rng([int(dataset.get('seed', 0)), _SPLIT_SEED.get(split, 2)])


def gaussian_1d(dataset, split):
  """N(mean, std) scalars: the data of Goodfellow et al. Figure 1 (defaults N(0.3, 0.15))."""
  n = int(dataset.get('num_examples', 100_000))
  x = _rng(dataset, split).normal(dataset.get('mean', 0.3), dataset.get('std', 0.15), (n, 1))
  return {'image': x.astype(np.float32), 'label': None, 'num_classes': 0}


def _mixture(modes, std, dataset, split):
  rng = _rng(dataset, split)
  n = int(dataset.get('num_examples', 100_000))
  labels = rng.integers(0, len(modes), n)
  x = modes[labels] + rng.normal(0.0, std, (n, 2))
  scale = float(dataset.get('scale', 1.0))
  return {'image': (x / scale).astype(np.float32), 'label': labels.astype(np.int32),
          'num_classes': len(modes)}


RING_STD, GRID_STD = 0.02, 0.05  # VEEGAN / Unrolled GAN: ring radius 2, grid spacing 2.


def ring8(dataset, split):
  """8 Gaussians on a circle of radius 2, std 0.02, in units of `dataset.scale`."""
  return _mixture(toy.ring_modes(8, 2.0), RING_STD, dataset, split)


def grid25(dataset, split):
  """25 Gaussians on a 5x5 grid over [-4, 4]^2 (spacing 2), std 0.05, in units of `dataset.scale`."""
  return _mixture(toy.grid_modes(5, 2.0), GRID_STD, dataset, split)


def olivetti_faces(dataset, split):
  """The 400 64x64 Olivetti faces (40 people), from `$GAN_JAX_DATA_DIR/olivetti/olivetti_py3.pkz`.

  All 400 images for every split: the set is too small to hold any out.
  """
  del split
  import joblib
  mirror = dataset.get('local_mirror') or data_dir.default_local_mirror()
  path = pathlib.Path(mirror or '') / 'olivetti' / 'olivetti_py3.pkz'
  if not path.exists():
    raise data_dir.DataUnavailableError(
        f'Olivetti faces not found at {path}; put olivetti_py3.pkz (sklearn\'s file) in '
        f'${data_dir.DATA_DIR_ENV}/olivetti/.')
  faces = np.asarray(joblib.load(path))  # (400, 4096) in [0, 1] (float) or uint8.
  if faces.dtype != np.uint8:
    faces = np.clip(np.round(faces * 255.0), 0, 255).astype(np.uint8)
  labels = np.repeat(np.arange(40, dtype=np.int32), 10)  # 10 images per person, in order.
  # The file stores each face transposed (sklearn transposes after loading too): upright faces.
  faces = faces.reshape(-1, 64, 64).transpose(0, 2, 1)
  return {'image': faces[..., None], 'label': labels, 'num_classes': 40}


SOURCES = {
    'gaussian_1d': gaussian_1d,
    'ring8': ring8,
    'grid25': grid25,
    'olivetti_faces': olivetti_faces,
}
