"""Cluster labels for a GAN without labels (`config.clusters`): k-means of the training images.

A GAN conditioned on clusters of its own training data models p(x) = sum_c p(c) p(x | c) and
needs no labels: D sees each real image with its cluster, G draws c from the clusters' sizes
p(c) (Liu et al. 2020, "Diverse image generation via self-conditioned GANs"; Sage et al. 2018).
Liu et al. recluster D's features during training; here the clusters are fixed, k-means on the
pixels, computed once at the start of a run (seconds for MNIST's 60,000 images). p(c) lives in
the train state (`steps.GANState.label_probs`), so evaluation and sampling need no data.
"""
from typing import Any, Dict, Tuple

import numpy as np


def _sq_distances(x: np.ndarray, x_sq: np.ndarray, centres: np.ndarray) -> np.ndarray:
  """|x_i - c_j|^2 for every row and centre, (N, k), by the expansion (one matmul)."""
  return np.maximum(x_sq[:, None] - 2.0 * x @ centres.T + (centres ** 2).sum(1)[None], 0.0)


def kmeans(x: np.ndarray, k: int, *, seed: int, iters: int = 30,
           chunk: int = 8192) -> Tuple[np.ndarray, np.ndarray]:
  """Lloyd's k-means with k-means++ seeding (Arthur & Vassilvitskii 2007) on the rows of `x`.

  Returns (centres (k, D) float32, assignments (N,) int32). A pure function of (x, k, seed). A
  cluster that empties takes the point farthest from its centre, so all k stay in use.
  """
  x = np.asarray(x, np.float32).reshape(len(x), -1)
  if not 1 <= k <= len(x):
    raise ValueError(f'k-means needs 1 <= k <= {len(x)} points, got k={k}.')
  rng = np.random.default_rng(seed)
  x_sq = (x ** 2).sum(1)
  centres = [x[rng.integers(len(x))]]
  closest = _sq_distances(x, x_sq, centres[0][None])[:, 0]
  for _ in range(1, k):  # Each next centre drawn with probability ~ its squared distance.
    p = closest / closest.sum() if closest.sum() > 0 else None
    centres.append(x[rng.choice(len(x), p=p)])
    closest = np.minimum(closest, _sq_distances(x, x_sq, centres[-1][None])[:, 0])
  centres = np.stack(centres)
  assign = np.full(len(x), -1, np.int32)
  for _ in range(iters):
    dist = np.concatenate([_sq_distances(x[i:i + chunk], x_sq[i:i + chunk], centres)
                           for i in range(0, len(x), chunk)])
    new = dist.argmin(1).astype(np.int32)
    nearest = dist[np.arange(len(x)), new]
    for c in np.setdiff1d(np.arange(k), new):  # Refill an empty cluster.
      far = int(nearest.argmax())
      new[far], nearest[far] = c, 0.0
    if np.array_equal(new, assign):
      break
    assign = new
    one_hot = np.eye(k, dtype=np.float32)[assign]
    centres = (one_hot.T @ x) / one_hot.sum(0)[:, None]  # Each cluster's mean (a matmul).
  return centres, assign


def relabel(data: Dict[str, Any], k: int, *, seed: int) -> Dict[str, Any]:
  """`data` with its labels replaced by the k-means clusters of its images.

  Adds `label_probs` (k,) float32, the clusters' shares, what G samples c from.
  """
  _, assign = kmeans(data['image'].astype(np.float32) / 255.0, k, seed=seed)
  probs = np.bincount(assign, minlength=k).astype(np.float64) / len(assign)
  return {**data, 'label': assign, 'num_classes': k, 'label_probs': probs.astype(np.float32)}


def stratified_labels(probs: np.ndarray, num: int) -> np.ndarray:
  """`num` labels whose counts follow `probs` as closely as integers can (no sampling noise):
  label of the (i + 0.5) / num quantile of the cumulative distribution."""
  cdf = np.cumsum(np.asarray(probs, np.float64))
  cdf /= cdf[-1]
  return np.minimum(np.searchsorted(cdf, (np.arange(num) + 0.5) / num), len(cdf) - 1).astype(
      np.int32)
