"""Section 4 of Goodfellow et al. (2014) in numbers: the theory functions and Proposition 1."""
import math

import jax
import numpy as np

from gan_jax import toy


def test_optimal_discriminator_and_criterion_at_p_g_equal_p_data():
  x = np.linspace(-3, 3, 2001)
  p = toy.gaussian_pdf(x, 0.0, 0.5)
  np.testing.assert_allclose(toy.optimal_discriminator(p, p), 0.5)
  assert abs(toy.virtual_criterion(x, p, p) + math.log(4)) < 1e-9  # C(G) = -log 4.
  assert abs(toy.value_from_densities(x, p, p, np.full_like(x, 0.5)) + math.log(4)) < 1e-6


def test_criterion_is_value_at_optimal_discriminator():
  x = np.linspace(-4, 4, 4001)
  p, q = toy.gaussian_pdf(x, 0.0, 0.5), toy.gaussian_pdf(x, 0.7, 0.6)
  d_star = toy.optimal_discriminator(p, q)
  c = toy.virtual_criterion(x, p, q)
  assert abs(toy.value_from_densities(x, p, q, d_star) - c) < 1e-6  # Theorem 1.
  assert toy.value_from_densities(x, p, q, np.clip(d_star + 0.1, 0, 1)) < c  # D* maximises V.
  far = toy.gaussian_pdf(x, 3.5, 0.1)
  assert abs(toy.jsd(x, toy.gaussian_pdf(x, -3.5, 0.1), far) - math.log(2)) < 1e-6


def test_kde_and_monte_carlo_value():
  rng = np.random.default_rng(0)
  s = rng.normal(0.3, 0.15, 50_000)
  x = np.linspace(0.0, 0.6, 61)
  np.testing.assert_allclose(toy.kde_pdf(s, x), toy.gaussian_pdf(x, 0.3, 0.15), rtol=0.05)
  zeros = np.zeros(1000)  # D = 1/2 everywhere: V = -log 4 whatever G.
  assert abs(toy.value_from_logits(zeros, zeros) + math.log(4)) < 1e-9


def test_proposition1_d_alone_converges_to_d_star():
  """G fixed at its initialisation; D trained alone with steps.d_step reaches D* = p/(p+p_g)."""
  from experiments import common
  from experiments.toy1d import run
  config = run.fixed_g_config()
  data, state = common.load(config)
  _, err = run.proposition1(config, state, jax.numpy.asarray(data['image']), num_steps=1000)
  assert err <= 0.05, err


def test_joint_training_reaches_minus_log4_and_d_star():
  """Algorithm 1 with the package's steps, the whole run of experiments/toy1d/run.py (seed 0).

  C(G) falls towards -log 4, V(D, G) sits near it, and the trained D is the optimal D*_G of
  Proposition 1 over the data's support. When written: JSD 0.24 -> 0.0017, V + log 4 = 0.0031,
  max |D - D*| = 0.039 over +- 2.5 std; ~100 s on 2 cores.
  """
  from experiments import common
  from experiments.toy1d import run
  config = run.get_config()
  data, state = common.load(config)
  before = run.measure(config, state, np.asarray(data['image']))
  state, _, _ = run.train(config, state, jax.numpy.asarray(data['image']), stages=())
  after = run.measure(config, state, np.asarray(data['image']))
  assert before['jsd'] > 0.2, before  # The initial G is far from p_data ...
  assert after['jsd'] < 0.01, after  # ... and joint training brings it close,
  assert abs(after['V_plus_log4']) < 0.02, after  # where D can no longer tell: V = -log 4,
  assert after['max_abs_d_minus_dstar'] <= 0.05, after  # and D is D*_G (the goal).
  assert abs(after['g_std'] - config.dataset.std) < 0.01, after
