"""The train state of both players and G's forward pass: what the steps (gan_jax/steps.py) update
and what sampling, evaluation and checkpoints read. gan_jax.steps re-exports these names."""
import functools
from typing import Any, Optional, Tuple

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class GANState:
  """Everything a run needs to continue: both players, their optimisers and the random key."""
  step: jax.Array  # Number of completed train_steps (generator updates).
  g_params: Any
  d_params: Any
  g_batch_stats: Any
  d_batch_stats: Any
  g_opt_state: optax.OptState
  d_opt_state: optax.OptState
  rng: jax.Array
  generator: nn.Module = flax.struct.field(pytree_node=False)
  discriminator: nn.Module = flax.struct.field(pytree_node=False)
  g_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
  d_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
  latent_dim: int = flax.struct.field(pytree_node=False, default=100)
  prior: str = flax.struct.field(pytree_node=False, default='normal')
  num_classes: int = flax.struct.field(pytree_node=False, default=0)
  # The exponential moving average of G's params (gan_jax/ema.py); {} when the run keeps none.
  g_ema_params: Any = flax.struct.field(default_factory=dict)
  # (num_classes,) p(c) that G's labels are drawn from (gan_jax/clusters.py); {}: uniform.
  label_probs: Any = flax.struct.field(default_factory=dict)


# One compiled program, kept per pair of models: op by op, initialisation compiled each of its
# ~150 operations on its own (8.4 s for the tiny test DCGAN here against 2.8 s), paid by every
# process that starts a run. Modules are static: equal configs give equal (hashable) modules.
@functools.partial(jax.jit, static_argnames=('generator', 'discriminator', 'latent_dim',
                                             'data_shape', 'num_classes'))
def _init_players(rng, *, generator, discriminator, latent_dim, data_shape, num_classes):
  g_rng, d_rng, rng = jax.random.split(rng, 3)
  n = 2 * getattr(discriminator, 'pack', 1)  # A PacGAN D (models/mlp.py) takes whole packs.
  z = jnp.zeros((n, latent_dim))
  labels = jnp.zeros((n,), jnp.int32) if num_classes else None
  g_vars = generator.init(g_rng, z, labels, train=False)
  d_vars = discriminator.init(d_rng, jnp.zeros((n, *data_shape)), labels, train=False)
  return g_vars, d_vars, rng


def create_state(*, generator: nn.Module, discriminator: nn.Module, g_tx, d_tx,
                 data_shape: Tuple[int, ...], rng: jax.Array, latent_dim: int = 100,
                 prior: str = 'normal', num_classes: int = 0, ema: bool = False,
                 label_probs=None) -> GANState:
  """Initialises both players (unreplicated); `ema` keeps an average of G's params;
  `label_probs` (num_classes,) replaces the uniform draw of G's labels."""
  g_vars, d_vars, rng = _init_players(rng, generator=generator, discriminator=discriminator,
                                      latent_dim=latent_dim, data_shape=tuple(data_shape),
                                      num_classes=num_classes)
  g_opt_state, d_opt_state = g_tx.init(g_vars['params']), d_tx.init(d_vars['params'])
  return GANState(
      step=jnp.zeros((), jnp.int32),
      g_params=g_vars['params'], d_params=d_vars['params'],
      g_batch_stats=g_vars.get('batch_stats', {}), d_batch_stats=d_vars.get('batch_stats', {}),
      g_opt_state=g_opt_state, d_opt_state=d_opt_state,
      g_ema_params=g_vars['params'] if ema else {}, rng=rng, generator=generator,
      discriminator=discriminator, g_tx=g_tx, d_tx=d_tx,
      latent_dim=latent_dim, prior=prior, num_classes=num_classes,
      label_probs={} if label_probs is None else jnp.asarray(label_probs, jnp.float32))


def generate(state: GANState, z: jax.Array, labels: Optional[jax.Array] = None, *,
             train: bool = False, rng: Optional[jax.Array] = None):
  """G(z | labels). Returns (samples, new G batch_stats; unchanged when not training).

  In training mode BatchNorm and dropout span the device axis the generator was built with.
  """
  variables = {'params': state.g_params, 'batch_stats': state.g_batch_stats}
  if not train:
    return state.generator.apply(variables, z, labels, train=False), state.g_batch_stats
  samples, new_vars = state.generator.apply(variables, z, labels, train=True,
                                            rngs={'dropout': rng}, mutable=['batch_stats'])
  return samples, new_vars.get('batch_stats', {})


@functools.partial(jax.jit, static_argnames=('train',))
def generate_samples(state: GANState, z: jax.Array, labels: Optional[jax.Array] = None, *,
                     train: bool = False, rng: Optional[jax.Array] = None) -> jax.Array:
  """G's samples alone, compiled once here for every caller: the trainer's sample grids,
  evaluation, the latent tools and the experiments (inference mode unless `train`)."""
  return generate(state, z, labels, train=train, rng=rng)[0]
