"""What every experiment shares: the package's own steps, run many at a time under one jit.

Only the batching differs from `train.train_and_evaluate`: the toys' whole data set sits on the
device and each step indexes its batches there, so thousands of tiny steps run per call without a
host round trip. The steps themselves are `steps.train_step` / `steps.d_step`, unchanged.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import checkpoints
from gan_jax import input_pipeline
from gan_jax import optimizers
from gan_jax import steps


def initial_state(config, data):
  """The initial state of `config`'s models for the already loaded `data`."""
  num_classes = data['num_classes'] if config.conditional else 0
  return checkpoints.create_train_state(config, data_shape=data['image'].shape[1:],
                                        num_classes=num_classes, axis_name=None)


def load(config):
  """The config's training split (a registered source or tfds) and the initial state."""
  data = input_pipeline.load_split(config.dataset, image_size=config.image_size or None)
  return data, initial_state(config, data)


def _batch_index(state, data_size, shape, salt):
  rng = jax.random.fold_in(jax.random.fold_in(state.rng, salt), state.step)
  return jax.random.randint(rng, shape, 0, data_size)


@functools.partial(jax.jit, static_argnames=('num_steps', 'batch_size', 'step_options'))
def train_steps(state, x, *, num_steps, batch_size, step_options):
  """`num_steps` calls of `steps.train_step` on batches of `x`; returns the state and metrics.

  `step_options`: train_step's keyword arguments as sorted (name, value) pairs, hashable for jit;
  `run` takes them from `steps.make_train_step`, so every option of the config reaches the step.
  """
  options = dict(step_options)
  def body(state, _):
    idx = _batch_index(state, x.shape[0], (options['num_d_steps'], batch_size), 1)
    return steps.train_step(state, {'image': x[idx]}, **options)
  return jax.lax.scan(body, state, None, length=num_steps)


@functools.partial(jax.jit, static_argnames=('num_steps', 'batch_size'))
def d_steps(state, x, *, num_steps, batch_size):
  """`num_steps` calls of `steps.d_step` with G held fixed (Proposition 1)."""
  def body(carry, i):
    state, = carry
    idx = _batch_index(state.replace(step=i), x.shape[0], (batch_size,), 2)
    state, metrics = steps.d_step(state, {'image': x[idx]},
                                  rng=jax.random.fold_in(jax.random.PRNGKey(7), i))
    return (state,), metrics
  (state,), metrics = jax.lax.scan(body, (state,), jnp.arange(num_steps))
  return state, metrics


def run(config, state, x, num_steps, chunk=1000):
  """Trains for `num_steps` in jitted chunks; returns the state and per-step metrics (host).

  Each distinct chunk length compiles once: callers pick a `chunk` that divides their stages.
  """
  options = tuple(sorted(steps.make_train_step(config, axis_name=None).keywords.items()))
  history = []
  for start in range(0, num_steps, chunk):
    n = min(chunk, num_steps - start)
    state, metrics = train_steps(state, x, num_steps=n, batch_size=config.batch_size,
                                 step_options=options)
    history.append(jax.device_get(metrics))
  return state, {k: np.concatenate([h[k] for h in history]) for k in history[0]}


@functools.partial(jax.jit, static_argnames=('num', 'batch_size'))
def generator_samples(state, rng, *, num, batch_size):
  """`num` samples of G in training mode, in batches of `batch_size`: what D sees in training."""
  z = steps.sample_latent(rng, num, state.latent_dim, state.prior)
  z = z.reshape(num // batch_size, batch_size, -1)
  sample = lambda zb: steps.generate_samples(state, zb, train=True, rng=rng)
  return jax.lax.map(sample, z).reshape(num, *jax.eval_shape(sample, z[0]).shape[1:])


@jax.jit
def discriminator_logits(state, x):
  """D's logit for each row of `x` (inference mode)."""
  if getattr(state.discriminator, 'pack', 1) > 1:
    raise ValueError('A packed D (config.mlp.pack > 1) has no logit per sample: the density '
                     'ratio estimates here need an unpacked D.')
  return state.discriminator.apply({'params': state.d_params, 'batch_stats': state.d_batch_stats},
                                   x, None, train=False)


def with_learning_rates(config, state, g_lr, d_lr):
  """The same state with the config's optimiser at new rates (same optimiser state): a decay."""
  return state.replace(g_tx=optimizers.make_optimizer(config.optim, g_lr),
                       d_tx=optimizers.make_optimizer(config.optim, d_lr))
