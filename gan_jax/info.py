"""InfoGAN's latent codes and their mutual-information term (Chen et al. 2016).

G's input keeps z ~ prior; the codes are read off z, so that every sampler of the codebase (the
steps, evaluation, standing statistics, the latent tools) draws them without knowing of them:
- the categorical code is the argmax of z's first `categories` entries: for i.i.d. entries
  (either prior) each category is equally likely, as InfoGAN's uniform categorical code. G sees
  it as a one-hot vector in place of those entries (the noise entries after them are untouched);
- the `continuous` codes are the next entries of z as they are.
D gets a second head Q (a hidden layer of 128 on D's last features, then one output per
category and per continuous code, `models/dcgan.py`) that predicts the codes of a fake. Its
loss, the variational lower bound on I(c; G(z, c)) up to constants, is the categorical
cross-entropy plus a squared error on the continuous codes (the log-likelihood of a
unit-variance Gaussian, InfoGAN's factored Gaussian with fixed variance). D (with Q) and G both
minimise `weight` times it beside their GAN losses: Q learns to read the codes, G to write them.
The paper's MNIST run: 10 categories (lambda 1; they became the digit classes, unsupervised)
and 2 continuous codes (rotation and width), whose lambda the paper sets smaller so that the
term stays on the GAN loss's scale (0.1 here by default).
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


class Info(NamedTuple):
  """Which codes, and how much their term weighs; a NamedTuple, so a static step argument."""
  categories: int = 0  # 0: no categorical code.
  continuous: int = 0
  weight: float = 1.0  # lambda of the categorical term.
  continuous_weight: float = 0.1  # lambda of the continuous codes' term.

  @property
  def outputs(self) -> int:
    """Q's outputs: the categories' logits, then one mean per continuous code."""
    return self.categories + self.continuous

  @property
  def on(self) -> bool:
    return self.outputs > 0


def of_config(config) -> Info:
  """The config's `info` block (off when the config has none)."""
  if 'info' not in config:
    return Info()
  c = config.info
  return Info(int(c.categories), int(c.continuous), float(c.weight), float(c.continuous_weight))


def categorical_code(z: jax.Array, categories: int) -> jax.Array:
  """(B,) int: the category each latent carries."""
  return jnp.argmax(z[:, :categories], axis=-1)


def generator_input(z: jax.Array, categories: int) -> jax.Array:
  """z with its first `categories` entries replaced by the one-hot of their argmax."""
  if not categories:
    return z
  code = jax.nn.one_hot(categorical_code(z, categories), categories, dtype=z.dtype)
  return jnp.concatenate([code, z[:, categories:]], axis=-1)


def loss(q: jax.Array, z: jax.Array, info: Info):
  """weight * CE(Q's logits, category) + continuous_weight * 1/2 |Q's means - codes|^2, both
  averaged over the batch. Returns (loss, metrics): the two terms before weighting, and the
  accuracy of Q's category."""
  k, c = info.categories, info.continuous
  metrics = {}
  total = jnp.zeros((), q.dtype)
  if k:
    labels = categorical_code(z, k)
    ce = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(q[:, :k], labels))
    total += info.weight * ce
    metrics['info_ce'] = ce
    metrics['info_acc'] = jnp.mean(jnp.argmax(q[:, :k], axis=-1) == labels)
  if c:
    se = 0.5 * jnp.mean(jnp.sum(jnp.square(q[:, k:k + c] - z[:, k:k + c]), axis=-1))
    total += info.continuous_weight * se
    metrics['info_se'] = se
  return total, metrics
