"""GAN losses of Goodfellow et al. (2014), computed from D's logits.

Why logits: log D = log_sigmoid(l) and log(1 - D) = log_sigmoid(-l) are exact and finite for any
logit, while log(sigmoid(l)) underflows to -inf as soon as D is confident (|l| > ~17 in float32).
"""
import jax
import jax.numpy as jnp


def _mean(values, weights):
  """The mean, or with `weights` the mean of weights * values (top-k training: see steps.g_step)."""
  return jnp.mean(values if weights is None else weights * values)


def discriminator_loss(*, real_logits, fake_logits):
  """-[log D(x) + log(1 - D(G(z)))]: binary cross-entropy, real labelled 1 and fake 0."""
  return -jnp.mean(jax.nn.log_sigmoid(real_logits)) - jnp.mean(jax.nn.log_sigmoid(-fake_logits))


def minimax_generator_loss(*, fake_logits, weights=None):
  """log(1 - D(G(z))), the saturating form of Algorithm 1 that G minimises.

  Its gradient w.r.t. the logit is -D(G(z)): it vanishes when D confidently rejects the samples,
  which is exactly early in training.
  """
  return _mean(jax.nn.log_sigmoid(-fake_logits), weights)


def non_saturating_generator_loss(*, fake_logits, weights=None):
  """-log D(G(z)): same fixed point, but a gradient of -(1 - D(G(z))) that is large when G loses."""
  return -_mean(jax.nn.log_sigmoid(fake_logits), weights)


GENERATOR_LOSSES = {
    'minimax': minimax_generator_loss,
    'non_saturating': non_saturating_generator_loss,
}
