"""The toolbox of the steps: G's moving average and its standing statistics, spectral norm,
DiffAugment and the gradient penalty inside the steps."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import dcgan, vanilla
from gan_jax import checkpoints, ema, images, info, input_pipeline, steps
from gan_jax.models import dcgan as dcgan_models
from tests.conftest import tiny


@pytest.fixture(scope='module')
def mnist():
  return input_pipeline.load_split(dcgan.get_config().dataset)


def _state(config, data):
  return checkpoints.create_train_state(config, data_shape=data['image'].shape[1:],
                                        num_classes=0, axis_name=None)


def _batch(data, i, size=16, k=1):
  batch = input_pipeline.get_batch(data, batch_size=size, batch_index=i, seed=0,
                                   process_index=0, process_count=1)
  return jax.tree.map(lambda x: np.stack([x] * k), batch)


def test_ema_of_g_follows_its_formula_from_the_start_step(mnist):
  config = tiny(vanilla.get_config(), **{'ema.decay': 0.75, 'ema.start_step': 2})
  state = _state(config, mnist)
  step = jax.jit(steps.make_train_step(config, axis_name=None))
  expected = None
  for i in range(5):
    state, _ = step(state, _batch(mnist, i))
    params = jax.tree.map(np.asarray, state.g_params)
    # Updated after step i (state.step was i): a copy before start_step, then the average.
    expected = params if i < 2 else jax.tree.map(lambda e, p: 0.75 * e + 0.25 * p, expected,
                                                 params)
    for got, want in zip(jax.tree.leaves(state.g_ema_params), jax.tree.leaves(expected)):
      np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
  # And it is not G itself: the average lags G's last updates.
  gap = max(float(np.max(np.abs(a - b))) for a, b in zip(
      jax.tree.leaves(state.g_ema_params), jax.tree.leaves(state.g_params)))
  assert gap > 1e-5
  assert not _state(tiny(vanilla.get_config()), mnist).g_ema_params  # Off: nothing kept.


def test_standing_statistics_make_inference_mode_equal_training_mode_on_their_batch(mnist):
  """The EMA generator's BatchNorm statistics are those of its own batch: in inference mode
  with them, G(z) on that batch equals G in training mode on it (which uses the batch's)."""
  config = tiny(dcgan.get_config(), **{'ema.decay': 0.5})
  state = _state(config, mnist)
  step = jax.jit(steps.make_train_step(config, axis_name=None))
  for i in range(3):
    state, _ = step(state, _batch(mnist, i))
  sampler = ema.sampling_state(state)
  z, labels = ema.standing_latents(state, 256)
  stats = ema.standing_batch_stats(state, state.g_ema_params, z, labels)
  averaged = state.replace(g_params=state.g_ema_params, g_batch_stats=stats)
  train_mode = steps.generate_samples(averaged, z, train=True, rng=jax.random.PRNGKey(0))
  inference = steps.generate_samples(averaged, z)
  np.testing.assert_allclose(inference, train_mode, atol=2e-5)
  # The running statistics of the raw G would give other samples.
  raw_stats = steps.generate_samples(state.replace(g_params=state.g_ema_params), z)
  assert float(jnp.max(jnp.abs(raw_stats - train_mode))) > 1e-3
  # sampling_state: the averaged params with standing statistics; the raw G on request.
  for a, b in zip(jax.tree.leaves(sampler.g_params), jax.tree.leaves(state.g_ema_params)):
    np.testing.assert_array_equal(a, b)
  assert ema.sampling_state(state, use_ema=False) is state


def _applied_kernels(module, variables, x, **kw):
  """The kernel every Conv/Dense/Upsample (and the embedding a projection D's Embed) of `module`
  computes with: after spectral norm."""
  kernels = {}

  def capture(next_fun, args, kwargs, context):
    params = context.module.variables.get('params', {})
    for key in ('kernel', 'embedding'):
      if context.method_name == '__call__' and key in params:
        kernels[context.module.scope.path_text] = params[key]
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(capture):
    module.apply(variables, x, train=False, **kw)
  return kernels


@pytest.mark.parametrize('player', ['discriminator', 'projection_discriminator', 'generator'])
def test_spectral_norm_makes_every_layers_top_singular_value_one(player):
  """After a few hundred power iterations (one per training-mode call) the largest singular
  value of every normalised weight, as the layer applies it (conv kernels as (H*W*I, O); a
  projection D's class embedding too), is within 1e-2 of 1; before them, one iteration from a
  random vector is not that close."""
  kw = {}
  if player.endswith('discriminator'):
    if player == 'projection_discriminator':
      kw = dict(labels=jnp.array([0, 3, 3, 9]))
    module = dcgan_models.DCGANDiscriminator(
        image_size=28, width=8, norm='spectral', num_classes=10 if kw else 0,
        conditioning='projection' if kw else 'planes')
    x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (4, 28, 28, 1)), jnp.float32)
  else:
    module = dcgan_models.DCGANGenerator(image_size=28, width=8, spectral_norm=True)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 100)), jnp.float32)
  variables = module.init(jax.random.PRNGKey(0), x, train=False, **kw)

  @jax.jit
  def iterate(stats):
    _, new = module.apply({**variables, 'batch_stats': stats}, x, train=True,
                          mutable=['batch_stats'], **kw)
    return new['batch_stats']

  stats = variables['batch_stats']
  top = lambda k: np.linalg.svd(np.asarray(k).reshape(-1, k.shape[-1]), compute_uv=False)[0]
  before = _applied_kernels(module, variables, x, **kw)
  assert max(abs(top(k) - 1) for k in before.values()) > 1e-2
  for _ in range(300):
    stats = iterate(stats)
  applied = _applied_kernels(module, {**variables, 'batch_stats': stats}, x, **kw)
  raw = [jax.tree_util.keystr(p) for p, _ in
         jax.tree_util.tree_flatten_with_path(variables['params'])[0]]
  assert len(applied) == sum(p.endswith(("['kernel']", "['embedding']")) for p in raw) >= 3
  assert any(p.endswith("['embedding']") for p in raw) == bool(kw)
  for name, kernel in applied.items():
    assert abs(top(kernel) - 1) < 1e-2, (name, top(kernel))


def test_diffaugment_reaches_d_in_both_steps_and_is_off_by_default(mnist):
  """With augment on, D sees other images than the batch in its step and in G's: the losses
  move; with it off the step is the one it always was (the other draws are unchanged)."""
  config = tiny(dcgan.get_config())
  state = _state(config, mnist)
  batch = _batch(mnist, 0)
  plain = jax.jit(steps.make_train_step(config, axis_name=None))(state, batch)[1]
  config.augment = 'translation,cutout'
  augmented = jax.jit(steps.make_train_step(config, axis_name=None))(state, batch)[1]
  assert abs(float(plain['d_loss']) - float(augmented['d_loss'])) > 1e-4
  assert abs(float(plain['g_loss']) - float(augmented['g_loss'])) > 1e-4
  again = jax.jit(steps.make_train_step(tiny(dcgan.get_config()), axis_name=None))(state, batch)
  assert float(again[1]['d_loss']) == float(plain['d_loss'])


# The penalty with lambda 10 over the penalty with lambda 0, 30 D steps in: 0.013-0.045 over seeds
# 0-5 (`python -m tests.margins toolbox`), so a bound of 0.25 leaves 5.5x.
GP_RATIO_BOUND = 0.25


def gradient_penalty_ratio(data, seed=0):
  """The Wasserstein loss alone lets D's input gradients grow; with lambda = 10 D's step keeps
  them near norm 1. Returns penalty(lambda 10) / penalty(lambda 0) after 30 steps from one start,
  and checks on the way that d_loss is what D minimises: E D(G(z)) - E D(x) + lambda * penalty."""
  config = tiny(vanilla.get_config(), loss='wasserstein', gp_lambda=10.0, seed=seed,
                **{'optim.d_lr': 1e-3, 'mlp.dropout': 0.0})
  start = _state(config, data)
  batches = [jax.tree.map(lambda x: x[0], _batch(data, i)) for i in range(31)]
  penalties = {}
  for gp_lambda in (0.0, 10.0):
    d_step = jax.jit(lambda s, b, g=gp_lambda: steps.d_step(s, b, loss='wasserstein',
                                                            gp_lambda=g))
    state = start
    for batch in batches[:30]:
      state, metrics = d_step(state, batch)
      assert float(metrics['d_loss']) == pytest.approx(
          -float(metrics['d_gap']) + gp_lambda * float(metrics['d_gp']), rel=1e-4, abs=1e-5)
    # Measured by a step with the penalty on (metrics are taken before its update).
    _, metrics = jax.jit(lambda s, b: steps.d_step(s, b, loss='wasserstein', gp_lambda=10.0))(
        state, batches[30])
    penalties[gp_lambda] = float(metrics['d_gp'])
  return penalties[10.0] / penalties[0.0]


def test_the_gradient_penalty_enters_d_step_with_its_lambda(mnist):
  assert gradient_penalty_ratio(mnist) < GP_RATIO_BOUND


def test_info_loss_is_cross_entropy_of_the_argmax_plus_the_codes_squared_error():
  z = jnp.array([[0.1, 2.0, -1.0, 0.5, 3.0], [1.5, 0.2, 0.3, -0.5, 7.0]])
  q = jnp.array([[0.0, 1.0, 0.5, 0.2], [2.0, -1.0, 0.0, -0.1]])
  spec = info.Info(categories=3, continuous=1, weight=2.0, continuous_weight=0.5)
  total, metrics = info.loss(q, z, spec)
  log_softmax = lambda v: v - np.log(np.sum(np.exp(v)))  # noqa: E731
  ce = -(log_softmax(np.array([0.0, 1.0, 0.5]))[1] + log_softmax(np.array([2.0, -1.0, 0.0]))[0]) / 2
  se = 0.5 * ((0.2 - 0.5) ** 2 + (-0.1 + 0.5) ** 2) / 2
  np.testing.assert_allclose(metrics['info_ce'], ce, rtol=1e-6)
  np.testing.assert_allclose(metrics['info_se'], se, rtol=1e-6)
  np.testing.assert_allclose(total, 2.0 * ce + 0.5 * se, rtol=1e-6)
  assert float(metrics['info_acc']) == 1.0  # Q's argmax is each row's category (1, then 0).
  # G sees the category as a one-hot in place of those entries, the rest of z as it is.
  np.testing.assert_array_equal(info.generator_input(z, 3),
                                [[0, 1, 0, 0.5, 3.0], [1, 0, 0, -0.5, 7.0]])


def test_generator_and_q_learn_to_pass_the_categorical_code_through_the_samples(mnist):
  """Q can only beat chance if G's samples show the code: its accuracy on fresh fakes measures
  both players. 4 categories, chance 0.25. Over seeds 0-5 the mean accuracy of steps 0-9 was
  0.28-0.35 and of steps 70-79 0.76-0.87; D's cross-entropy over steps 70-79 0.89-1.02 (log 4:
  1.39)."""
  config = tiny(dcgan.get_config(), **{'info.categories': 4})
  state = _state(config, mnist)
  assert set(state.d_params) >= {'q_hidden', 'q_norm', 'q_out'}
  step = jax.jit(steps.make_train_step(config, axis_name=None))
  accuracy, cross_entropy = [], []
  for i in range(80):
    state, metrics = step(state, _batch(mnist, i, size=32))
    accuracy.append(float(metrics['g_info_acc']))
    cross_entropy.append(float(metrics['d_info_ce']))
  assert np.mean(accuracy[:10]) < 0.45
  assert np.mean(accuracy[-10:]) > 0.55
  assert np.mean(cross_entropy[-10:]) < np.log(4) - 0.15
  # The sample grid gives each category a row (config.sample_grid_size columns).
  z, _ = images.fixed_latents(config, state)
  n = config.sample_grid_size
  np.testing.assert_array_equal(info.categorical_code(z, 4), np.repeat(np.arange(4), n))
  np.testing.assert_array_equal(z[:n, 4:], z[-n:, 4:])  # The same noise down each column.
