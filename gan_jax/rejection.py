"""Discriminator rejection sampling (Azadi et al. 2019, "DRS"): G's samples filtered by D.

An optimal discriminator is D*(x) = p_data(x) / (p_data(x) + p_g(x)) (Goodfellow et al.,
Proposition 1), so its logit is log p_data(x) / p_g(x). Accepting a sample x ~ p_g with probability
exp(logit(x) - M), M >= every logit, is rejection sampling: the accepted samples follow p_data
wherever p_g > 0. That needs a D close to D*, and the D of training is not one (R1 or an early
stop smooth it): first train D alone against the fixed G (`experiments/common.d_steps`), as in
Proposition 1 and as Azadi et al. do.

M is estimated, as in the paper, as the largest logit seen: over a burn-in set, then raised
whenever a batch holds a larger one. `gamma` < 0 shifts every acceptance up, > 0 down (the
paper's knob trading fidelity for acceptance rate); gamma = 0 is exact rejection sampling.
"""
from typing import Callable, Tuple

import jax
import jax.numpy as jnp
import numpy as np


def acceptance_probability(logits, max_logit, gamma: float = 0.0, eps: float = 1e-6):
  """Azadi et al.'s sigmoid(F), F = l - M - log(1 - exp(l - M - eps)) - gamma.

  For gamma = 0 this is exp(l - M) / (1 - exp(l - M - eps) + exp(l - M)), i.e. exp(l - M) up to
  eps: the exact rejection-sampling probability, written in logit space so that a shift gamma
  moves every sample's odds by the same factor.
  """
  a = jnp.asarray(logits, jnp.float32) - max_logit
  f = a - jnp.log1p(-jnp.exp(jnp.minimum(a, 0.0) - eps)) - gamma
  return jax.nn.sigmoid(f)


def rejection_sample(propose: Callable[[jax.Array], jax.Array],
                     logit_fn: Callable[[jax.Array], jax.Array], rng: jax.Array, num: int, *,
                     max_logit: float, gamma: float = 0.0,
                     max_proposals: int = 10_000_000) -> Tuple[np.ndarray, float]:
  """`num` samples of `propose(rng)` (one batch per call) accepted by D's `logit_fn`.

  Returns (samples, acceptance rate over everything proposed). Raises when `max_proposals` are
  spent first: a D whose logits collapse would otherwise loop for ever.
  """
  kept, num_kept, num_proposed = [], 0, 0
  while num_kept < num:
    rng, propose_rng, accept_rng = jax.random.split(rng, 3)
    x = propose(propose_rng)
    logits = jnp.reshape(logit_fn(x), (x.shape[0],))
    max_logit = max(max_logit, float(logits.max()))  # The paper's running estimate of M.
    accept = jax.random.uniform(accept_rng, logits.shape) < acceptance_probability(
        logits, max_logit, gamma)
    kept.append(np.asarray(x)[np.asarray(accept)])
    num_kept += len(kept[-1])
    num_proposed += x.shape[0]
    if num_proposed >= max_proposals and num_kept < num:
      raise RuntimeError(f'Rejection sampling kept {num_kept} of {num_proposed} proposals; '
                         f'asked for {num}.')
  return np.concatenate(kept)[:num], num_kept / num_proposed
