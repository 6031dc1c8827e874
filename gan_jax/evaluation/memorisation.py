"""Does the generator copy its training set? Nearest training images of generated samples.

Distances are compared with those of held-out (test) images, which the model has never seen:
  memorisation ratio = mean NN distance(generated -> train) / mean NN distance(held-out -> train).
About 1 means samples are as far from the training set as new real images are; far below 1 means
samples sit on (or next to) training images. Measured both in pixel space and in the classifier's
feature space (which is blind to small shifts and stroke-width changes that defeat pixel L2).
"""
import functools
import math
from typing import Dict, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image, ImageDraw

from gan_jax import batching
from gan_jax.evaluation import classifier_metrics


@jax.jit
def _chunk_nearest(queries, references, reference_sq_norms):
  """Squared-L2 nearest reference of each query, by ||q||^2 - 2 q.r + ||r||^2 (one matmul)."""
  dots = jnp.matmul(queries, references.T, precision=jax.lax.Precision.HIGHEST)
  d2 = (queries * queries).sum(-1, keepdims=True) - 2 * dots + reference_sq_norms[None]
  idx = d2.argmin(axis=1)
  return jnp.take_along_axis(d2, idx[:, None], axis=1)[:, 0], idx


def nearest_neighbours(queries, references, *, query_chunk: int = 1000,
                       reference_chunk: int = 10000) -> Tuple[np.ndarray, np.ndarray]:
  """Exact L2 nearest neighbour of each query among the references, chunked.

  Queries and references are (N, ...) arrays, flattened. Only a (query_chunk, reference_chunk)
  block of distances exists at a time (40 MB for the defaults), so 10k x 60k fits anywhere.
  Returns (distances (Q,), indices (Q,)); the distances are recomputed exactly in float64 for
  the chosen neighbours, since the matmul form loses precision for near-duplicates.
  """
  queries = np.asarray(queries, np.float32).reshape(len(queries), -1)
  references = np.asarray(references, np.float32).reshape(len(references), -1)
  reference_chunk = min(reference_chunk, len(references))
  query_chunk = min(query_chunk, len(queries))
  best_d2 = np.full(len(queries), np.inf, np.float32)
  best_idx = np.zeros(len(queries), np.int64)
  for r0 in range(0, len(references), reference_chunk):
    refs = references[r0:r0 + reference_chunk]
    sq = (refs.astype(np.float64) ** 2).sum(-1).astype(np.float32)
    pad = reference_chunk - len(refs)
    if pad:  # Fixed shapes (one compilation); padded rows can never be nearest.
      refs = np.concatenate([refs, np.zeros((pad, refs.shape[1]), np.float32)])
      sq = np.concatenate([sq, np.full(pad, np.inf, np.float32)])
    refs, sq = jnp.asarray(refs), jnp.asarray(sq)
    d2, idx = batching.map_in_batches(lambda q: _chunk_nearest(q, refs, sq), queries,
                                      batch_size=query_chunk)
    better = d2 < best_d2
    best_d2[better] = d2[better]
    best_idx[better] = idx[better] + r0
  diff = queries.astype(np.float64) - references[best_idx].astype(np.float64)
  return np.sqrt((diff * diff).sum(-1)), best_idx


def leave_one_out_distances(images) -> np.ndarray:
  """Each image's L2 distance to its nearest *other* image of the set.

  The reference distance for a set too small to hold any out (Olivetti's 400 faces): how far a
  real face is from the closest different real face. Dense (N, N) in float64: small sets only.
  """
  x = np.asarray(images, np.float64).reshape(len(images), -1)
  sq = (x * x).sum(-1)
  d2 = sq[:, None] - 2 * x @ x.T + sq[None]
  np.fill_diagonal(d2, np.inf)
  return np.sqrt(np.maximum(d2.min(1), 0.0))


def _ratio_stats(prefix: str, generated_d: np.ndarray, heldout_d: np.ndarray) -> Dict[str, float]:
  return {
      f'{prefix}_nn_distance_generated': float(generated_d.mean()),
      f'{prefix}_nn_distance_heldout': float(heldout_d.mean()),
      f'{prefix}_memorisation_ratio': float(generated_d.mean() / heldout_d.mean()),
      # A mean can hide a few copies: the fraction of samples closer to the training set than
      # all but 1% of held-out images.
      f'{prefix}_close_fraction': float((generated_d < np.quantile(heldout_d, 0.01)).mean()),
  }


def memorisation_report(samples, train_images, heldout_images, *, classifier=None,
                        png_path: Optional[str] = None, num_show: int = 16,
                        batch_size: int = 500) -> Dict[str, float]:
  """Nearest-training-image distances of samples vs held-out images, and an optional PNG.

  Args:
    samples: generated images, float in [-1, 1], (N, H, W, C).
    train_images: the training set, same range and shape (uint8 callers: `to_model_range`).
    heldout_images: real images not trained on (the test split), same range and shape; None for a
      set with no held-out split: the reference is then each training image's nearest other
      training image (`leave_one_out_distances`; pixel space only).
    classifier: (classify, params) or a data-set name; adds the feature-space numbers and the
      feature neighbours in the PNG. None: pixel space only.
    png_path: where to write rows of (sample | nearest by pixels | nearest by features).
    num_show: how many samples the PNG shows (the first ones).
  Returns:
    {pixel,feature}_{nn_distance_generated, nn_distance_heldout, memorisation_ratio,
    close_fraction}.
  """
  samples = np.asarray(samples, np.float32)
  train_images = np.asarray(train_images, np.float32)
  gen_d, gen_idx = nearest_neighbours(samples, train_images)
  if heldout_images is None:
    heldout_d = leave_one_out_distances(train_images)
  else:
    heldout_d, _ = nearest_neighbours(heldout_images, train_images)
  out = _ratio_stats('pixel', gen_d, heldout_d)
  feature_idx = None
  if classifier is not None and heldout_images is not None:
    features = functools.partial(classifier_metrics.classifier_outputs, classifier=classifier,
                                 batch_size=batch_size)
    train_f = features(train_images)[1]
    gen_fd, feature_idx = nearest_neighbours(features(samples)[1], train_f)
    heldout_fd, _ = nearest_neighbours(features(heldout_images)[1], train_f)
    out.update(_ratio_stats('feature', gen_fd, heldout_fd))
  if png_path:
    show = min(num_show, len(samples))
    columns = [samples[:show], train_images[gen_idx[:show]]]
    if feature_idx is not None:
      columns.append(train_images[feature_idx[:show]])
    save_neighbour_grid(png_path, columns)
  return out


def _to_uint8(images: np.ndarray) -> np.ndarray:
  images = np.clip(np.round((np.asarray(images, np.float32) + 1) * 127.5), 0, 255)
  images = images.astype(np.uint8)
  return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images


def save_neighbour_grid(path: str, columns, *, per_line: int = 4, scale: int = 3,
                        titles=('sample', 'nn pixel', 'nn feature')) -> None:
  """Writes a PNG of (sample | neighbour | ...) triplets, `per_line` triplets side by side.

  `columns`: equally long lists of images in [-1, 1]; columns[0] are the samples.
  """
  columns = [_to_uint8(c) for c in columns]
  n, h, w, _ = columns[0].shape
  k = len(columns)
  gap, group_gap, header = 1, 6 * scale, 12
  cell_w, cell_h = w * scale + gap, h * scale + gap
  group_w = k * cell_w + group_gap
  lines = math.ceil(n / per_line)
  canvas = Image.new('RGB', (min(n, per_line) * group_w, header + lines * cell_h), 'white')
  draw = ImageDraw.Draw(canvas)
  for g in range(min(n, per_line)):
    for c in range(k):
      draw.text((g * group_w + c * cell_w + 1, 0), titles[c] if c < len(titles) else '',
                fill='black')
  for i in range(n):
    line, g = divmod(i, per_line)
    for c in range(k):
      tile = Image.fromarray(columns[c][i]).resize((w * scale, h * scale), Image.NEAREST)
      canvas.paste(tile, (g * group_w + c * cell_w, header + line * cell_h))
  canvas.save(path)
