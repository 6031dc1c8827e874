"""FID, KID and improved precision/recall on FID Inception-V3 pool3 features.

Protocol (PROTOCOL_VERSION; change it whenever something below changes, so cached reference
statistics are not mixed across protocols):
  1. images (N, H, W, C), C in {1, 3}: uint8 as is; float in [-1, 1] is mapped to the uint8 value
     a saved image would hold, round-half-up of (x + 1) * 127.5 clipped to [0, 255] (the
     StyleGAN2-ADA convention `x * 127.5 + 128` truncated).
  2. grayscale stays one channel through the resize and is tiled to RGB by folding the channel
     sum into the first conv (exact: the three input channels would be identical).
  3. resize to 299 x 299 with `jax.image.resize(..., 'bilinear', antialias=True)` in float32 on
     the [0, 255] values, no re-rounding. For upsampling (e.g. MNIST 28 -> 299) this is the same
     as torch's `F.interpolate(bilinear, align_corners=False)` that pytorch-fid uses; for
     downsampling antialias=True gives a proper low-pass (PIL-like) where pytorch-fid aliases.
     Images already 299 x 299 are not resampled.
  4. Inception (see inception.py), 2048 features; statistics in float64.
"""
import functools
import hashlib
import json
import os
from pathlib import Path

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from gan_jax import batching
from gan_jax import data_dir
from gan_jax.evaluation import frechet, inception

PROTOCOL_VERSION = 'fid-incv3-2015-12-05_bilinear-aa-299_v1'
INCEPTION_SIZE = 299


# ---------------------------------------------------------------------------------------------
# Preprocessing.

def to_uint8_values(images):
  """(N, H, W, C) uint8, or float in [-1, 1] -> float32 holding uint8 values 0..255."""
  images = jnp.asarray(images)
  if images.dtype == jnp.uint8:
    return images.astype(jnp.float32)
  return jnp.clip(jnp.floor(images.astype(jnp.float32) * 127.5 + 128.0), 0.0, 255.0)


def resize(images, size=INCEPTION_SIZE):
  """Bilinear resize of (N, H, W, C) float images to size x size (no-op if already there)."""
  n, h, w, c = images.shape
  if (h, w) == (size, size):
    return images
  return jax.image.resize(images, (n, size, size, c), method='bilinear', antialias=True)


def _features_batch(params, images):
  # Grayscale stays one channel: `inception.apply` folds the tiling into its first conv.
  return inception.apply(params, resize(to_uint8_values(images)))


@functools.cache
def _jitted_features():
  # On CPU compiled with XLA's own kernels (inception.COMPILER_OPTIONS), which run it faster
  # than the default YNNPACK fusions (the train step takes its own: gan_jax/xla_cpu.py).
  options = inception.COMPILER_OPTIONS if jax.default_backend() == 'cpu' else None
  return jax.jit(_features_batch, compiler_options=options)


def _batches(images, batch_size):
  if isinstance(images, (np.ndarray, jax.Array)):
    for i in range(0, len(images), batch_size):
      yield images[i:i + batch_size]
  else:
    yield from images


def extract_features(images, *, params=None, batch_size=50, total=None, progress=True):
  """Inception features of an array (N, H, W, C) or an iterable of such batches.

  Batches are padded to `batch_size` (a larger batch from an iterable is split) so that only
  one shape is compiled; an array of fewer images is one batch of its own size, not padded.
  Returns (N, 2048) float32 numpy.
  """
  params = inception.load_inception_params() if params is None else params
  if total is None and hasattr(images, '__len__') and hasattr(images, 'shape'):
    total = len(images)
    batch_size = min(batch_size, total)
  features = functools.partial(_jitted_features(), params)
  out = []
  with tqdm(total=total, desc='inception', unit='img', disable=not progress) as bar:
    for batch in _batches(images, batch_size):
      out.append(batching.map_in_batches(features, np.asarray(batch), batch_size=batch_size))
      bar.update(len(batch))
  return np.concatenate(out).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# FID.

feature_statistics = frechet.feature_statistics
frechet_distance = frechet.frechet_distance


def fid_from_features(features1, features2):
  return frechet_distance(*feature_statistics(features1), *feature_statistics(features2))


# ---------------------------------------------------------------------------------------------
# KID (Binkowski et al. 2018; subset protocol of TF-GAN / StyleGAN2-ADA).

def _polynomial_mmd2(x, y):
  """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3."""
  d, m = x.shape[1], len(x)
  kxx, kyy, kxy = ((a @ b.T / d + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
  off_diag = lambda k: (k.sum() - np.trace(k)) / (m * (m - 1))  # noqa: E731
  return off_diag(kxx) + off_diag(kyy) - 2 * kxy.mean()


def kernel_inception_distance(features1, features2, *, num_subsets=100, subset_size=1000, seed=0):
  """KID: mean and std of the unbiased MMD^2 over random subsets (without replacement).

  Subsets hold min(subset_size, n // 2) samples, n the smaller set: with 10k samples that is the
  usual 1000; with few samples, subsets of all n would all be the same set and the std 0.
  """
  f1, f2 = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
  m = min(subset_size, min(len(f1), len(f2)) // 2)
  rng = np.random.default_rng(seed)
  values = [_polynomial_mmd2(f1[rng.choice(len(f1), m, replace=False)],
                             f2[rng.choice(len(f2), m, replace=False)])
            for _ in range(num_subsets)]
  return float(np.mean(values)), float(np.std(values))


# ---------------------------------------------------------------------------------------------
# Improved precision / recall (Kynkaanniemi et al. 2019).

def _sq_distances(a, b):
  """Squared Euclidean distances (len(a), len(b)), float32 matmul, clipped at 0."""
  d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * (a @ b.T)
  return np.maximum(d, 0)


def knn_radii(features, *, k=3, chunk=1000):
  """Squared distance of each sample to its k-th nearest neighbour in the same set (not itself)."""
  f = np.asarray(features, np.float32)
  radii = [np.partition(_sq_distances(f[i:i + chunk], f), k, axis=1)[:, k]  # index 0 is self
           for i in range(0, len(f), chunk)]
  return np.concatenate(radii)


def precision_recall(real_features, fake_features, *, k=3, chunk=1000):
  """Precision: fraction of fake samples inside the real manifold (union of k-NN balls);
  recall: fraction of real samples inside the fake manifold. Memory O(chunk * N)."""
  real = np.asarray(real_features, np.float32)
  fake = np.asarray(fake_features, np.float32)
  real_r, fake_r = knn_radii(real, k=k, chunk=chunk), knn_radii(fake, k=k, chunk=chunk)
  fake_in_real = np.zeros(len(fake), bool)
  real_in_fake = np.zeros(len(real), bool)
  for i in range(0, len(fake), chunk):
    d = _sq_distances(fake[i:i + chunk], real)  # (chunk, n_real)
    fake_in_real[i:i + chunk] = (d <= real_r[None, :]).any(1)
    real_in_fake |= (d <= fake_r[i:i + chunk, None]).any(0)
  return float(fake_in_real.mean()), float(real_in_fake.mean())


def all_metrics(real_features, fake_features, *, kid_subsets=100, kid_subset_size=1000, k=3):
  """FID, KID (mean, std), precision and recall of fake vs real features, as a flat dict.

  FID on fewer samples than the 2048 feature dimensions is biased upwards (a rank-deficient
  covariance): it is still reported, with a warning; rank such runs by KID, which is unbiased.
  """
  n = min(len(real_features), len(fake_features))
  if n < inception.FEATURE_DIM:
    logging.warning('FID on %d samples (< %d features) is biased upwards and not comparable '
                    'with published 10k-sample FIDs; compare KID instead.', n,
                    inception.FEATURE_DIM)
  kid_mean, kid_std = kernel_inception_distance(
      fake_features, real_features, num_subsets=kid_subsets, subset_size=kid_subset_size)
  precision, recall = precision_recall(real_features, fake_features, k=k)
  return {'fid': fid_from_features(real_features, fake_features), 'kid': kid_mean,
          'kid_std': kid_std, 'precision': precision, 'recall': recall}


# ---------------------------------------------------------------------------------------------
# Reference-statistics cache.

def cache_dir_path(cache_dir=None):
  return Path(cache_dir or os.environ.get('GAN_JAX_CACHE') or Path.home() / '.cache' / 'gan_jax')


def reference_cache_path(source, *, cache_dir=None, version=PROTOCOL_VERSION):
  """The cache file of a reference set described by `source`.

  `source` is a dict of everything that changes the reference images (see
  `evaluate.reference_source`: dataset, split, count, image size, resize method); its JSON and
  the protocol version are hashed into the name, so two configs that feed Inception different
  images never share an entry.
  """
  key = json.dumps({**source, 'protocol': version}, sort_keys=True)
  digest = hashlib.sha1(key.encode()).hexdigest()[:12]
  safe = lambda s: ''.join(ch if ch.isalnum() or ch in '-_.' else '_' for ch in str(s))  # noqa
  name = '_'.join(safe(source.get(k, '')) for k in ('dataset', 'split', 'count'))
  return cache_dir_path(cache_dir) / 'fid_stats' / f'{name}_{digest}.npz'


def reference_statistics(compute_features, *, source, cache_dir=None, keep_features=True):
  """Cached {'mu', 'sigma'[, 'features']} of a reference set, keyed by `source` (a dict with at
  least 'count') and PROTOCOL_VERSION.

  `compute_features` is a zero-argument callable returning (count, 2048) features; it runs only
  on a cache miss. Features (float32, 8 MB per 1000 images) are kept for KID and
  precision/recall unless keep_features=False.
  """
  count = source['count']
  path = reference_cache_path(source, cache_dir=cache_dir)
  if path.is_file():
    with np.load(path) as cached:
      stats = dict(cached)
    if 'features' in stats or not keep_features:
      return stats
  features = np.asarray(compute_features(), np.float32)
  if len(features) != count:
    raise ValueError(f'compute_features returned {len(features)} rows, expected {count}')
  mu, sigma = feature_statistics(features)
  stats = {'mu': mu, 'sigma': sigma, **({'features': features} if keep_features else {})}
  if jax.process_index() != 0:  # One writer when several processes evaluate the same set.
    return stats
  path.parent.mkdir(parents=True, exist_ok=True)
  data_dir.save_npz(path, stats)
  return stats
