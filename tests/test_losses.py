"""The losses equal their textbook formulas, stay finite, and saturate where the seeds say."""
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import losses

LOGITS_REAL = jnp.array([-2.0, -0.5, 0.3, 1.7])
LOGITS_FAKE = jnp.array([-1.2, 0.0, 0.8, 2.5])
sig = lambda x: 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def test_discriminator_loss_is_binary_cross_entropy():
  expected = -np.mean(np.log(sig(LOGITS_REAL))) - np.mean(np.log(1 - sig(LOGITS_FAKE)))
  got = losses.discriminator_loss(real_logits=LOGITS_REAL, fake_logits=LOGITS_FAKE)
  np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_one_sided_label_smoothing_is_cross_entropy_against_its_target_on_real_only():
  t = 0.9
  expected = (-np.mean(t * np.log(sig(LOGITS_REAL)) + (1 - t) * np.log(1 - sig(LOGITS_REAL)))
              - np.mean(np.log(1 - sig(LOGITS_FAKE))))
  got = losses.discriminator_loss(real_logits=LOGITS_REAL, fake_logits=LOGITS_FAKE, real_target=t)
  np.testing.assert_allclose(got, expected, rtol=1e-6)
  # D's best answer on a real image is now t, not 1: the real term's gradient vanishes where
  # sigmoid(logit) = t and pushes down above it; the fakes' gradient is the unsmoothed one.
  at_t = jnp.full((4,), np.log(t / (1 - t)), jnp.float32)
  grad_of = lambda r, f: jax.grad(lambda r, f: losses.discriminator_loss(  # noqa: E731
      real_logits=r, fake_logits=f, real_target=t), argnums=(0, 1))(r, f)
  g_real, g_fake = grad_of(at_t, LOGITS_FAKE)
  np.testing.assert_allclose(g_real, 0.0, atol=1e-7)
  assert np.all(np.asarray(grad_of(at_t + 2.0, LOGITS_FAKE)[0]) > 0)
  np.testing.assert_allclose(g_fake, jax.grad(lambda f: losses.discriminator_loss(
      real_logits=at_t, fake_logits=f))(LOGITS_FAKE), rtol=1e-6)


def test_generator_losses_match_their_formulas():
  np.testing.assert_allclose(losses.minimax_generator_loss(fake_logits=LOGITS_FAKE),
                             np.mean(np.log(1 - sig(LOGITS_FAKE))), rtol=1e-6)
  np.testing.assert_allclose(losses.non_saturating_generator_loss(fake_logits=LOGITS_FAKE),
                             -np.mean(np.log(sig(LOGITS_FAKE))), rtol=1e-6)


def test_losses_are_finite_at_extreme_logits():
  extreme = jnp.array([-1e4, 1e4])
  values = [losses.discriminator_loss(real_logits=extreme, fake_logits=extreme),
            losses.minimax_generator_loss(fake_logits=extreme),
            losses.non_saturating_generator_loss(fake_logits=extreme)]
  reals = lambda name: {'real_logits': extreme[::-1]} if name in losses.RELATIVISTIC else {}
  grads = [jax.grad(lambda l, f=f, n=n: f(fake_logits=l, **reals(n)))(extreme)
           for n, f in losses.GENERATOR_LOSSES.items()]
  assert all(np.all(np.isfinite(v)) for v in values + grads)
  # -log D(G(z)) with D(G(z)) = sigmoid(-1e4) is 1e4 / 2 on average: exact, not clipped.
  np.testing.assert_allclose(values[2], 5e3, rtol=1e-6)


def test_minimax_saturates_where_non_saturating_does_not():
  confident = jnp.full((8,), -15.0)  # D(G(z)) ~ 3e-7: D rejects the fakes.
  g_minimax = jax.grad(lambda l: losses.minimax_generator_loss(fake_logits=l))(confident)
  g_non_sat = jax.grad(lambda l: losses.non_saturating_generator_loss(fake_logits=l))(confident)
  assert np.max(np.abs(g_minimax)) < 1e-7
  np.testing.assert_allclose(g_non_sat, -1.0 / 8, rtol=1e-5)  # -(1 - D(G(z))) / N


def test_hinge_least_squares_wasserstein_and_relativistic_match_their_formulas():
  real, fake = np.asarray(LOGITS_REAL, np.float64), np.asarray(LOGITS_FAKE, np.float64)
  expected = {
      # (D's loss, G's loss)
      'hinge': (np.mean(np.maximum(0, 1 - real)) + np.mean(np.maximum(0, 1 + fake)),
                -np.mean(fake)),
      'least_squares': (0.5 * np.mean((real - 1) ** 2) + 0.5 * np.mean(fake ** 2),
                        0.5 * np.mean((fake - 1) ** 2)),
      'wasserstein': (np.mean(fake) - np.mean(real), -np.mean(fake)),
      'non_saturating': (-np.mean(np.log(sig(real))) - np.mean(np.log(1 - sig(fake))),
                         -np.mean(np.log(sig(fake)))),
  }
  # Relativistic pairing: the i-th real against the i-th fake, log sigmoid of their difference.
  expected['relativistic'] = (-np.mean(np.log(sig(real - fake))),
                              -np.mean(np.log(sig(fake - real))))
  assert set(expected) == set(losses.LOSSES) - {'minimax'}
  for name, (d_expected, g_expected) in expected.items():
    d_loss, g_loss = losses.LOSSES[name]
    np.testing.assert_allclose(d_loss(real_logits=LOGITS_REAL, fake_logits=LOGITS_FAKE),
                               d_expected, rtol=1e-6, err_msg=name)
    reals = {'real_logits': LOGITS_REAL} if name in losses.RELATIVISTIC else {}
    np.testing.assert_allclose(g_loss(fake_logits=LOGITS_FAKE, **reals), g_expected, rtol=1e-6,
                               err_msg=name)
  # The hinge stops at the margin: D gets no gradient from examples beyond it.
  grad = jax.grad(lambda r: losses.hinge_discriminator_loss(real_logits=r,
                                                            fake_logits=LOGITS_FAKE))(LOGITS_REAL)
  np.testing.assert_array_equal(np.asarray(grad) == 0, np.asarray(LOGITS_REAL) >= 1)


def test_gradient_penalty_on_a_linear_critic_is_its_closed_form():
  """For D(x) = <w, x> + b every input gradient is w, so the penalty is (|w| - 1)^2 whatever
  the interpolates, and its gradient w.r.t. w is 2 (|w| - 1) w / |w|."""
  rng = np.random.default_rng(0)
  real, fake = (jnp.asarray(rng.normal(size=(6, 4, 4, 1)), jnp.float32) for _ in range(2))
  eps = jnp.asarray(rng.uniform(size=6), jnp.float32)

  def penalty(w):
    critic = lambda x: (x.reshape(len(x), -1) @ w + 0.3, None)
    return losses.gradient_penalty(critic, real, fake, eps)[0]

  for scale in (0.2, 1.0, 3.0):
    w = jnp.asarray(rng.normal(size=16), jnp.float32)
    w = w / jnp.linalg.norm(w) * scale
    np.testing.assert_allclose(penalty(w), (scale - 1) ** 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jax.grad(penalty)(w), 2 * (scale - 1) * w / scale, rtol=1e-4,
                               atol=1e-6)


def test_gradient_penalty_is_taken_at_the_interpolates():
  """A critic whose gradient norm depends on x: D(x) = sum(x^2) / 2 has gradient x, so the
  penalty is the mean of (|eps real + (1 - eps) fake| - 1)^2."""
  rng = np.random.default_rng(1)
  real, fake = (rng.normal(size=(5, 3)).astype(np.float32) for _ in range(2))
  eps = rng.uniform(size=5).astype(np.float32)
  critic = lambda x: (0.5 * jnp.sum(x ** 2, axis=1), None)
  x_hat = eps[:, None] * real + (1 - eps[:, None]) * fake
  expected = np.mean((np.linalg.norm(x_hat, axis=1) - 1) ** 2)
  got, _ = losses.gradient_penalty(critic, jnp.asarray(real), jnp.asarray(fake), jnp.asarray(eps))
  np.testing.assert_allclose(got, expected, rtol=1e-5)
