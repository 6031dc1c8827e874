"""Sample-quality metrics from the small data-set classifier (see classifier.py).

- classifier score: the Inception-Score formula exp(E_x KL(p(y|x) || p(y))) on the classifier's
  posteriors; between 1 (one class, or unsure) and 10 (confident and class-balanced).
- Frechet classifier distance (FCD): the Frechet distance between Gaussian fits of the 128-d
  penultimate features of generated and real images; 0 for identical distributions.
- label accuracy: for conditional models, the fraction of samples that the classifier puts in the
  class they were conditioned on.

All take images as float arrays in [-1, 1], (N, H, W, C), and `classifier` as the
(classify, params) pair of `load_classifier` or a data-set name ('mnist', 'fashion_mnist').
"""
import functools
from typing import Any, Dict, Tuple, Union

import numpy as np
import scipy.special

from gan_jax import batching
from gan_jax.evaluation import classifier as classifier_lib
from gan_jax.evaluation import frechet

Classifier = Union[str, Tuple[Any, Any]]


def classifier_outputs(images, *, classifier: Classifier,
                       batch_size: int = 500) -> Tuple[np.ndarray, np.ndarray]:
  """(logits (N, 10), features (N, 128)) as float32 numpy, in fixed-size jitted batches.

  The last batch is zero-padded so that any N compiles one program per batch size.
  """
  classify, params = classifier_lib.as_classifier(classifier)
  return batching.map_in_batches(functools.partial(classify, params),
                                 np.asarray(images, np.float32), batch_size=batch_size)


def score_from_logits(logits: np.ndarray, *, num_splits: int = 10) -> Tuple[float, float]:
  """Inception-Score formula on logits: mean and std of exp(E KL(p(y|x) || p(y))) over splits."""
  log_p_yx = scipy.special.log_softmax(np.asarray(logits, np.float64), axis=-1)
  scores = []
  for part in np.array_split(log_p_yx, num_splits):
    # log p(y) = log mean_x p(y|x), via logsumexp so confident posteriors do not underflow.
    log_p_y = scipy.special.logsumexp(part, axis=0) - np.log(len(part))
    kl = (np.exp(part) * (part - log_p_y)).sum(axis=-1)
    scores.append(np.exp(kl.mean()))
  return float(np.mean(scores)), float(np.std(scores))


def classifier_score(images, *, classifier: Classifier, num_splits: int = 10,
                     batch_size: int = 500) -> Tuple[float, float]:
  """(mean, std) of the classifier score over `num_splits` splits of the images."""
  logits, _ = classifier_outputs(images, classifier=classifier, batch_size=batch_size)
  return score_from_logits(logits, num_splits=num_splits)


def reference_statistics(images, *, classifier: Classifier,
                         batch_size: int = 500) -> Tuple[np.ndarray, np.ndarray]:
  """(mu, sigma) of the real images' features; compute once and pass as FCD's `reference`."""
  _, features = classifier_outputs(images, classifier=classifier, batch_size=batch_size)
  return frechet.feature_statistics(features)


def fcd_from_features(features: np.ndarray, reference) -> float:
  mu, sigma = frechet.feature_statistics(features)
  ref_mu, ref_sigma = reference
  return frechet.frechet_distance(mu, sigma, ref_mu, ref_sigma)


def frechet_classifier_distance(images, reference, *, classifier: Classifier,
                                batch_size: int = 500) -> float:
  """FCD between `images` and `reference`: real images, or their (mu, sigma) statistics."""
  if not isinstance(reference, tuple):
    reference = reference_statistics(reference, classifier=classifier, batch_size=batch_size)
  _, features = classifier_outputs(images, classifier=classifier, batch_size=batch_size)
  return fcd_from_features(features, reference)


def label_accuracy(images, labels, *, classifier: Classifier, batch_size: int = 500) -> float:
  """Fraction of images classified as `labels` (the labels a conditional model was given)."""
  logits, _ = classifier_outputs(images, classifier=classifier, batch_size=batch_size)
  return float((logits.argmax(-1) == np.asarray(labels)).mean())


def evaluate(images, *, classifier: Classifier, reference=None, labels=None,
             num_splits: int = 10, batch_size: int = 500) -> Dict[str, float]:
  """All classifier metrics from one pass over the images (what a trainer calls).

  `reference`: real images or their `reference_statistics`; FCD is skipped without it.
  `labels`: the conditioning labels; label accuracy is skipped without them.
  """
  if reference is not None and not isinstance(reference, tuple):
    reference = reference_statistics(reference, classifier=classifier, batch_size=batch_size)
  logits, features = classifier_outputs(images, classifier=classifier, batch_size=batch_size)
  score, score_std = score_from_logits(logits, num_splits=num_splits)
  out = {'classifier_score': score, 'classifier_score_std': score_std}
  if reference is not None:
    out['fcd'] = fcd_from_features(features, reference)
  if labels is not None:
    out['label_accuracy'] = float((logits.argmax(-1) == np.asarray(labels)).mean())
  return out
