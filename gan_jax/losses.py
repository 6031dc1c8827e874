"""GAN losses, each a pair (D's loss, G's loss) of D's raw outputs ("logits"), the WGAN-GP
gradient penalty, and top-k training's weights on G's loss.

  minimax, non_saturating  Goodfellow et al. (2014): binary cross-entropy for D.
  hinge                    Lim & Ye (2017), Miyato et al. (2018): relu(1 - real) + relu(1 + fake).
  least_squares            Mao et al. (2017), a-b-c = 0-1-1: (real - 1)^2 + fake^2, G (fake - 1)^2.
  wasserstein              Arjovsky et al. (2017); with `gradient_penalty` Gulrajani et al.
  relativistic             Jolicoeur-Martineau (2018), RpGAN: each real scored against a fake,
                           softplus(fake - real) for D, softplus(real - fake) for G.

Why logits for the cross-entropy losses: log D = log_sigmoid(l) and log(1 - D) = log_sigmoid(-l)
are exact and finite for any logit, while log(sigmoid(l)) underflows to -inf as soon as D is
confident (|l| > ~17 in float32).
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp


def _mean(values, weights):
  """The mean, or with `weights` the mean of weights * values (top-k training: TopK)."""
  return jnp.mean(values if weights is None else weights * values)


def discriminator_loss(*, real_logits, fake_logits, real_target=1.0):
  """-[log D(x) + log(1 - D(G(z)))]: binary cross-entropy, real labelled 1 and fake 0.

  `real_target` < 1 is one-sided label smoothing (Salimans et al. 2016): real images labelled
  t, fakes still 0, so D's optimum D*(x) = t p_data / (p_data + p_g) stays 0 where G's
  samples leave the data and G's fixed point is unchanged (smoothing the fakes' label would move
  it). Its real term is the cross-entropy -[t log D(x) + (1 - t) log(1 - D(x))], computed as
  -log D(x) + (1 - t) l, since log sigmoid(l) - log sigmoid(-l) = l.
  """
  real_term = jax.nn.log_sigmoid(real_logits)
  if real_target != 1.0:  # Static: the textbook loss's graph is unchanged at 1.
    real_term = real_term - (1.0 - real_target) * real_logits
  return -jnp.mean(real_term) - jnp.mean(jax.nn.log_sigmoid(-fake_logits))


def minimax_generator_loss(*, fake_logits, weights=None):
  """log(1 - D(G(z))), the saturating form of Algorithm 1 that G minimises.

  Its gradient w.r.t. the logit is -D(G(z)): it vanishes when D confidently rejects the samples,
  which is exactly early in training.
  """
  return _mean(jax.nn.log_sigmoid(-fake_logits), weights)


def non_saturating_generator_loss(*, fake_logits, weights=None):
  """-log D(G(z)): same fixed point, but a gradient of -(1 - D(G(z))) that is large when G loses."""
  return -_mean(jax.nn.log_sigmoid(fake_logits), weights)


def hinge_discriminator_loss(*, real_logits, fake_logits):
  """E relu(1 - D(x)) + E relu(1 + D(G(z))): D stops pushing once a margin of 1 is reached."""
  return jnp.mean(jax.nn.relu(1.0 - real_logits)) + jnp.mean(jax.nn.relu(1.0 + fake_logits))


def linear_generator_loss(*, fake_logits, weights=None):
  """-E D(G(z)): G's loss of the hinge and Wasserstein formulations."""
  return -_mean(fake_logits, weights)


def least_squares_discriminator_loss(*, real_logits, fake_logits):
  """1/2 E (D(x) - 1)^2 + 1/2 E D(G(z))^2 (Mao et al. 2017, targets b = 1 real, a = 0 fake)."""
  return 0.5 * jnp.mean(jnp.square(real_logits - 1.0)) + 0.5 * jnp.mean(jnp.square(fake_logits))


def least_squares_generator_loss(*, fake_logits, weights=None):
  """1/2 E (D(G(z)) - 1)^2: G wants its fakes scored as real (c = 1)."""
  return 0.5 * _mean(jnp.square(fake_logits - 1.0), weights)


def wasserstein_discriminator_loss(*, real_logits, fake_logits):
  """E D(G(z)) - E D(x): the critic's estimate of the Wasserstein-1 distance, negated. Needs a
  Lipschitz constraint on D, here the gradient penalty (config.gp_lambda)."""
  return jnp.mean(fake_logits) - jnp.mean(real_logits)


def relativistic_discriminator_loss(*, real_logits, fake_logits):
  """E softplus(D(G(z)) - D(x)) = -E log sigmoid(D(x) - D(G(z))), real and fake in pairs.

  The relativistic pairing GAN (Jolicoeur-Martineau 2018, "RSGAN"; R3GAN's RpGAN): D estimates
  how much more real x is than a fake, not whether x is real. Pairs are the i-th real and fake
  of a device's batch, so the loss is a mean over pairs and any device count gives the same.
  """
  return jnp.mean(jax.nn.softplus(fake_logits - real_logits))


def relativistic_generator_loss(*, fake_logits, real_logits, weights=None):
  """E softplus(D(x) - D(G(z))): G wants its fakes scored above the reals they are paired with.
  Unlike the other G losses it reads D on real data (g_step passes D's logits of the real batch,
  held constant), so the reals' side of D's scale moves G's gradient too."""
  return _mean(jax.nn.softplus(real_logits - fake_logits), weights)


def gradient_penalty(critic, real, fake, eps):
  """E (|grad_x critic(x_hat)|_2 - 1)^2 at x_hat = eps real + (1 - eps) fake (Gulrajani et al.).

  `critic` maps a batch to (outputs (B,), aux); `eps` is (B,) in [0, 1], one per pair. Each
  example's input gradient is its own only if the critic mixes no examples (no BatchNorm), which
  is why WGAN-GP's D has none. Returns (penalty, aux).
  """
  eps = eps.reshape(-1, *[1] * (real.ndim - 1))
  x_hat = eps * real + (1.0 - eps) * fake
  outputs, pullback, aux = jax.vjp(critic, x_hat, has_aux=True)
  grads, = pullback(jnp.ones_like(outputs))
  # The small constant keeps the gradient of the norm finite where the input gradient is 0.
  norms = jnp.sqrt(jnp.sum(jnp.square(grads).reshape(real.shape[0], -1), axis=1) + 1e-12)
  return jnp.mean(jnp.square(norms - 1.0)), aux


# config.loss -> (D's loss, G's loss). D's cross-entropy takes `real_target` (label smoothing).
LOSSES = {
    'minimax': (discriminator_loss, minimax_generator_loss),
    'non_saturating': (discriminator_loss, non_saturating_generator_loss),
    'hinge': (hinge_discriminator_loss, linear_generator_loss),
    'least_squares': (least_squares_discriminator_loss, least_squares_generator_loss),
    'wasserstein': (wasserstein_discriminator_loss, linear_generator_loss),
    'relativistic': (relativistic_discriminator_loss, relativistic_generator_loss),
}
GENERATOR_LOSSES = {name: pair[1] for name, pair in LOSSES.items()}
RELATIVISTIC = ('relativistic',)  # G's loss takes `real_logits` too: g_step scores the reals.
SMOOTHABLE = ('minimax', 'non_saturating')  # The losses whose D takes a label to smooth.


class TopK(NamedTuple):
  """Top-k training of G (Sinha et al. 2020): G learns only from the fakes D rates most real.

  The kept fraction of the global batch starts at 1 and is multiplied by `decay` every
  `decay_every` generator steps (the paper: 0.99 per epoch) down to `min_fraction`. The paper's
  reason, from 2-D mixtures: the gradients of the fakes D rates worst can push the good ones off
  their modes, since G is one function. The risk: fakes far from all data, e.g. stuck where G's
  tanh saturates, may then get no gradient back (experiments/mixtures2d: the grid does worse).
  A NamedTuple, so that it is a static argument.
  """
  min_fraction: float = 1.0  # 1: off.
  decay: float = 0.99
  decay_every: int = 1000

  @property
  def on(self) -> bool:
    return self.min_fraction < 1

  def fraction(self, step):
    return jnp.maximum(self.min_fraction, self.decay ** (step // self.decay_every))


def top_k_weights(fake_logits, fraction, axis_name):
  """Weights with mean 1 over the global batch, on the `fraction` of fakes with the largest logits.

  The threshold is taken over the global batch (logits are gathered), so the selection, and the
  step, do not depend on how many devices share the batch.
  """
  local = fake_logits.reshape(-1)
  everyone = local if axis_name is None else jax.lax.all_gather(local, axis_name).reshape(-1)
  n = everyone.shape[0]
  k = jnp.clip(jnp.floor(fraction * n).astype(jnp.int32), 1, n)
  threshold = jnp.sort(everyone)[n - k]  # The k-th largest.
  keep = jax.lax.stop_gradient(local >= threshold).astype(local.dtype)
  return (keep * n / k).reshape(fake_logits.shape), k / n


def r1_interval(config) -> int:
  """Every how many train steps D's R1 (and R2) penalty runs: `r1_every` with either on, else 1.
  Above 1 it is lazy (steps.make_train_step); the logged `d_r1` and `d_r2` then average in the
  zeros of the steps between."""
  on = config.get('r1_gamma', 0.0) or config.get('r2_gamma', 0.0)
  return int(config.get('r1_every', 1)) if on else 1


def top_k_of(config) -> TopK:
  """The config's `top_k` block as a TopK (off when the config has none)."""
  if 'top_k' not in config:
    return TopK()
  return TopK(float(config.top_k.min_fraction), float(config.top_k.decay),
              int(config.top_k.decay_every))
