"""The Frechet distance between two Gaussians, shared by FID and the classifier distance (FCD)."""
import numpy as np


def feature_statistics(features: np.ndarray):
  """(N, D) features -> (mu (D,), sigma (D, D)), in float64 (float32 sums lose digits at 10k)."""
  features = np.asarray(features, np.float64)
  return features.mean(axis=0), np.cov(features, rowvar=False)


def _psd_sqrt(sigma):
  w, v = np.linalg.eigh(sigma)
  return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def trace_sqrt_product(sigma1, sigma2) -> float:
  """Tr((sigma1 sigma2)^(1/2)) for symmetric PSD matrices: Tr((s sigma2 s)^(1/2)), s = sigma1^(1/2).

  The two products are similar (s^-1 (s s sigma2 s) s = sigma1 sigma2), so they share eigenvalues;
  the second is symmetric PSD, whose eigenvalues `eigvalsh` gives directly. The reference FID
  code's `scipy.linalg.sqrtm` of the non-symmetric product takes a complex Schur decomposition
  instead: 17-24 s at Inception's 2,048 features on 2 cores against ~3 s here, and for singular
  covariances (fewer samples than features) it needs an eps on the diagonals and drops an
  imaginary round-off part, where round-off here only makes tiny eigenvalues negative (clipped).
  """
  s = _psd_sqrt(sigma1)
  m = s @ sigma2 @ s
  eig = np.linalg.eigvalsh((m + m.T) / 2)
  return float(np.sqrt(np.clip(eig, 0.0, None)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
  """||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2)), in float64."""
  mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
  sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
  sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
  if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
    raise ValueError(f'Shapes differ: {mu1.shape} {mu2.shape} {sigma1.shape} {sigma2.shape}')
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2)
               - 2 * trace_sqrt_product(sigma1, sigma2))
