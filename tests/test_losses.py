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
  grads = [jax.grad(lambda l, f=f: f(fake_logits=l))(extreme)
           for f in losses.GENERATOR_LOSSES.values()]
  assert all(np.all(np.isfinite(v)) for v in values + grads)
  # -log D(G(z)) with D(G(z)) = sigmoid(-1e4) is 1e4 / 2 on average: exact, not clipped.
  np.testing.assert_allclose(values[2], 5e3, rtol=1e-6)


def test_minimax_saturates_where_non_saturating_does_not():
  confident = jnp.full((8,), -15.0)  # D(G(z)) ~ 3e-7: D rejects the fakes.
  g_minimax = jax.grad(lambda l: losses.minimax_generator_loss(fake_logits=l))(confident)
  g_non_sat = jax.grad(lambda l: losses.non_saturating_generator_loss(fake_logits=l))(confident)
  assert np.max(np.abs(g_minimax)) < 1e-7
  np.testing.assert_allclose(g_non_sat, -1.0 / 8, rtol=1e-5)  # -(1 - D(G(z))) / N
