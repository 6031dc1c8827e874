"""Theory of Goodfellow et al. (2014), Section 4, and mode metrics for the 2-D mixtures.

Section 4 in numbers, for 1-D densities on a grid: the optimal discriminator
D*(x) = p_data / (p_data + p_g) (Proposition 1), the value V(D, G), and the virtual training
criterion C(G) = max_D V = -log 4 + 2 JSD(p_data || p_g) (Theorem 1). p_g is only known through
samples, so it is estimated with a Gaussian kernel density estimate.

Mode metrics (VEEGAN / Unrolled GAN protocol): a sample is high quality when it lies within
`num_std` standard deviations of its nearest mode; a mode is covered when it holds at least
`min_count` high-quality samples; the KL divergence compares the histogram of high-quality samples
over the modes with the uniform histogram of the data.
"""
import math
from typing import Dict, Optional

import numpy as np

LOG4 = math.log(4.0)


def gaussian_pdf(x, mean: float, std: float):
  x = np.asarray(x, np.float64)
  return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def kde_pdf(samples, x, bandwidth: Optional[float] = None):
  """Gaussian KDE of 1-D `samples` at `x` (Silverman's bandwidth unless given)."""
  s = np.asarray(samples, np.float64).reshape(-1)
  x = np.asarray(x, np.float64).reshape(-1)
  if bandwidth is None:
    iqr = np.subtract(*np.percentile(s, [75, 25]))
    bandwidth = 0.9 * min(s.std(), iqr / 1.34) * len(s) ** (-0.2)
  out = np.empty_like(x)
  # Only samples within 8.5 bandwidths of a chunk's points: a kernel beyond is < 2e-16 of its
  # peak, so the density moves by < 2e-16 / (bandwidth sqrt(2 pi)) (absolute), and the sums cost
  # a fraction of all pairs.
  s, cut = np.sort(s), 8.5 * bandwidth
  rows = max(1, 2**22 // len(s))  # Chunks keep the (x, samples) matrix at ~32 MB.
  for i in range(0, len(x), rows):
    xi = x[i:i + rows]
    lo, hi = np.searchsorted(s, [xi.min() - cut, xi.max() + cut])
    u = (xi[:, None] - s[None, lo:hi]) / bandwidth
    out[i:i + rows] = np.exp(-0.5 * u * u).sum(1) / (len(s) * bandwidth * math.sqrt(2 * math.pi))
  return out


def optimal_discriminator(p_data, p_g):
  """Proposition 1: D*_G(x) = p_data(x) / (p_data(x) + p_g(x)); 1/2 where both vanish."""
  p_data, p_g = np.asarray(p_data, np.float64), np.asarray(p_g, np.float64)
  total = p_data + p_g
  return np.where(total > 0, p_data / np.maximum(total, 1e-300), 0.5)


def value_from_logits(real_logits, fake_logits) -> float:
  """V(D, G) = E_x log D(x) + E_z log(1 - D(G(z))), Monte Carlo, from D's logits."""
  log_sigmoid = lambda l: -np.logaddexp(0.0, -np.asarray(l, np.float64))
  return float(np.mean(log_sigmoid(real_logits)) + np.mean(log_sigmoid(-np.asarray(fake_logits))))


def value_from_densities(x, p_data, p_g, d) -> float:
  """V(D, G) = integral of p_data log D + p_g log(1 - D) on the grid `x`."""
  d = np.clip(np.asarray(d, np.float64), 1e-12, 1 - 1e-12)
  return float(np.trapezoid(p_data * np.log(d) + p_g * np.log1p(-d), x))


def jsd(x, p, q) -> float:
  """Jensen-Shannon divergence (nats) of two densities on the grid `x`."""
  p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
  m = 0.5 * (p + q)
  kl = lambda a: np.where(a > 0, a * (np.log(np.maximum(a, 1e-300)) - np.log(np.maximum(m, 1e-300))), 0.0)
  return float(0.5 * np.trapezoid(kl(p), x) + 0.5 * np.trapezoid(kl(q), x))


def virtual_criterion(x, p_data, p_g) -> float:
  """Theorem 1: C(G) = max_D V(D, G) = -log 4 + 2 JSD(p_data || p_g)."""
  return -LOG4 + 2.0 * jsd(x, p_data, p_g)


# ----- 2-D mixtures of Gaussians: the modes and the metrics. -----

def ring_modes(num_modes: int = 8, radius: float = 2.0) -> np.ndarray:
  angles = 2 * np.pi * np.arange(num_modes) / num_modes
  return np.stack([radius * np.cos(angles), radius * np.sin(angles)], 1).astype(np.float32)


def grid_modes(per_side: int = 5, spacing: float = 2.0) -> np.ndarray:
  coords = (np.arange(per_side) - (per_side - 1) / 2) * spacing  # 5 x 5 over [-4, 4]^2.
  xx, yy = np.meshgrid(coords, coords, indexing='ij')
  return np.stack([xx.ravel(), yy.ravel()], 1).astype(np.float32)


def default_min_count(num_samples: int, num_modes: int) -> int:
  """A mode is covered with a fifth of its uniform share of samples (20 of 2,500 for 25 modes)."""
  return max(1, int(math.ceil(0.2 * num_samples / num_modes)))


def mode_metrics(samples, modes, std: float, *, num_std: float = 3.0,
                 min_count: Optional[int] = None) -> Dict[str, float]:
  """Modes covered, fraction of high-quality samples, KL(mode histogram || uniform)."""
  samples, modes = np.asarray(samples, np.float64), np.asarray(modes, np.float64)
  dist = np.linalg.norm(samples[:, None, :] - modes[None, :, :], axis=-1)
  nearest, d_min = dist.argmin(1), dist.min(1)
  high_quality = d_min <= num_std * std
  counts = np.bincount(nearest[high_quality], minlength=len(modes))
  min_count = default_min_count(len(samples), len(modes)) if min_count is None else min_count
  hist = counts / max(counts.sum(), 1)
  kl = float(np.sum(np.where(hist > 0, hist * np.log(np.maximum(hist, 1e-300) * len(modes)), 0.)))
  if counts.sum() == 0:
    kl = math.log(len(modes))  # No high-quality sample at all: as far from uniform as one mode.
  return {'modes': int(np.sum(counts >= min_count)), 'high_quality': float(high_quality.mean()),
          'kl': kl, 'num_modes': len(modes)}
