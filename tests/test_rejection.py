"""Discriminator rejection sampling against the formulas it rests on."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import rejection


def test_acceptance_at_gamma_zero_is_exp_of_logit_minus_max():
  logits = np.linspace(-12.0, 3.0, 61)
  p = rejection.acceptance_probability(logits, max_logit=3.0, eps=1e-9)
  np.testing.assert_allclose(p, np.exp(logits - 3.0), rtol=1e-4, atol=1e-7)
  # A negative gamma raises every acceptance, more in relative terms for the unlikely ones.
  shifted = rejection.acceptance_probability(logits, max_logit=3.0, gamma=-2.0, eps=1e-9)
  assert np.all(shifted >= p) and shifted[0] / p[0] > shifted[-2] / p[-2]


def _log_normal(x, mean, std):
  return -0.5 * ((x - mean) / std) ** 2 - jnp.log(std) - 0.5 * jnp.log(2 * jnp.pi)


def test_an_exact_density_ratio_turns_samples_of_p_g_into_samples_of_p_data():
  """p_g = N(0, 1), p_data = N(1, 0.5^2): with D's logit = log p_data / p_g (D = D*), the accepted
  samples are N(1, 0.5^2) and the acceptance rate is 1 / max(p_data / p_g) = exp(-M)."""
  logit = lambda x: _log_normal(x, 1.0, 0.5) - _log_normal(x, 0.0, 1.0)
  # The log ratio is a concave quadratic, largest where -4(x - 1) + x = 0, i.e. x = 4/3.
  max_logit = float(logit(jnp.float32(4.0 / 3.0)))
  propose = lambda rng: jax.random.normal(rng, (4096,))
  x, rate = rejection.rejection_sample(propose, logit, jax.random.PRNGKey(0), 20_000,
                                       max_logit=max_logit)
  assert len(x) == 20_000
  assert abs(x.mean() - 1.0) < 0.02 and abs(x.std() - 0.5) < 0.015, (x.mean(), x.std())
  assert abs(rate - np.exp(-max_logit)) < 0.02, (rate, np.exp(-max_logit))
  # Without the filter, the proposals keep p_g's moments: the test can tell the two apart.
  raw = propose(jax.random.PRNGKey(1))
  assert abs(float(raw.mean()) - 1.0) > 0.5


def test_rejection_sampling_stops_when_nothing_is_accepted():
  propose = lambda rng: jax.random.normal(rng, (100,))
  with pytest.raises(RuntimeError, match='kept 0 of 1000'):
    rejection.rejection_sample(propose, lambda x: jnp.full(x.shape, -50.0),
                               jax.random.PRNGKey(0), 10, max_logit=0.0, max_proposals=1000)
