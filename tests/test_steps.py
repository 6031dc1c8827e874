"""The steps move each player the right way, and train_step is Algorithm 1 with k D updates."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import vanilla
from gan_jax import checkpoints
from gan_jax import input_pipeline
from gan_jax import losses as losses_lib
from gan_jax import multi_step
from gan_jax import optimizers
from gan_jax import steps
from gan_jax import train
from gan_jax import validation
from tests.conftest import tiny


@pytest.fixture(scope='module')
def mnist():
  from configs import default
  return input_pipeline.load_split(default.get_config().dataset)


def _state(config_or_fixture, data, name='vanilla', **kw):
  """(config, unreplicated state) from a config, or from the tiny_config fixture and overrides."""
  config = config_or_fixture(name, **kw) if callable(config_or_fixture) else config_or_fixture
  return config, checkpoints.create_train_state(config, data_shape=data['image'].shape[1:],
                                                num_classes=0, axis_name=None)


def _batch(data, i, size=16, seed=0):
  return input_pipeline.get_batch(data, batch_size=size, batch_index=i, seed=seed,
                                  process_index=0, process_count=1)


def d_alone(data, seed=0, pack=1, num_steps=40):
  """D's losses over `num_steps` d_steps against a fixed G, and the last step's metrics."""
  config = tiny(vanilla.get_config(), seed=seed, **{'optim.d_lr': 1e-3, 'mlp.pack': pack})
  _, state = _state(config, data)
  d_step = jax.jit(steps.d_step)
  losses = []
  for i in range(num_steps):
    state, metrics = d_step(state, _batch(data, i, seed=seed),
                            rng=jax.random.PRNGKey(1000 * seed + i))
    losses.append(float(metrics['d_loss']))
  return np.mean(losses[-5:]) / np.mean(losses[:5]), metrics


def g_alone(data, loss, seed=0, num_steps=30):
  """The rise of D(G(z)) over `num_steps` g_steps against a fixed D (last 5 minus first 5)."""
  config = tiny(vanilla.get_config(), seed=seed, **{'optim.g_lr': 1e-3})
  _, state = _state(config, data)
  g_step = jax.jit(functools.partial(steps.g_step, loss=loss))
  fooled = []
  for i in range(num_steps):
    state, metrics = g_step(state, _batch(data, i, seed=seed),
                            rng=jax.random.PRNGKey(1000 * seed + i))
    fooled.append(float(metrics['g_fake']))  # D(G(z)) before this update.
  return np.mean(fooled[-5:]) - np.mean(fooled[:5])


# Outcome bounds in this file hold with a 2x margin or more over seeds 0-5 (`python -m
# tests.margins steps` prints the measured values and margins): XLA:CPU rounds differently on
# other x86 cores, so a bound must sit far from every value measured on one of them.


@pytest.mark.parametrize('pack', [1, 4])  # 4: a PacGAN D, one logit per 4 samples.
def test_discriminator_steps_alone_lower_the_discriminator_loss(mnist, pack):
  ratio, metrics = d_alone(mnist, pack=pack)
  assert ratio < 0.6, ratio  # 0.07-0.28 over seeds 0-5, both packs.
  # D(x) 0.994-0.999 and D(G(z)) 0.06-0.24 over seeds 0-5, both packs.
  assert float(metrics['d_real']) > 0.8 and float(metrics['d_fake']) < 0.5, metrics


@pytest.mark.parametrize('loss', ['non_saturating', 'minimax'])
def test_generator_steps_alone_fool_a_fixed_discriminator(mnist, loss):
  assert g_alone(mnist, loss) > 0.025  # D(G(z)) rises by 0.060-0.115 over seeds 0-5.


def _stack(batches):
  return jax.tree.map(lambda *x: np.stack(x), *batches)


def _max_diff(a, b):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  return max((float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
              for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))), default=0.0)


def test_each_discriminator_update_takes_its_own_real_batch(tiny_config, mnist):
  """Algorithm 1: train_step is k d_steps on k different batches, then a g_step, all with the
  step's own keys; feeding the first batch k times (`x[0]` for `x[i]`) is another update."""
  k = 3
  config, state = _state(tiny_config, mnist, num_d_steps=k, **{'mlp.dropout': 0.0})
  batches = [_batch(mnist, i) for i in range(k)]
  got, metrics = jax.jit(steps.make_train_step(config, axis_name=None))(state, _stack(batches))
  assert int(got.step) == 1  # One step of Algorithm 1 ...
  assert int(got.d_opt_state[0].count) == k  # ... is k updates of D (Adam's counter) ...
  assert int(got.g_opt_state[0].count) == 1  # ... and one of G.
  assert all(np.isfinite(float(v)) for v in metrics.values())

  def by_hand(d_batches):
    rng = jax.random.fold_in(state.rng, state.step)
    s = state
    for i, b in enumerate(d_batches):
      s, _ = jax.jit(steps.d_step)(s, b, rng=jax.random.fold_in(rng, i))
    s, _ = jax.jit(steps.g_step)(s, d_batches[-1], rng=jax.random.fold_in(rng, k))
    return s

  expected = by_hand(batches)
  one_batch = by_hand([batches[0]] * k)
  assert _max_diff(got.d_params, expected.d_params) < 1e-6
  assert _max_diff(got.g_params, expected.g_params) < 1e-6
  # D's params after the same k updates on one batch are measurably elsewhere (~1e-3 here).
  assert _max_diff(one_batch.d_params, expected.d_params) > 100 * max(
      _max_diff(got.d_params, expected.d_params), 1e-7)


def test_reused_fakes_give_g_steps_update_on_the_d_steps_latents(tiny_config, mnist, monkeypatch):
  """reuse_fakes: D's update is the plain one, and G's is g_step's own on the latents and labels
  that D's update drew (their forward pass shared, not recomputed; through DiffAugment and
  G's BatchNorm); the fresh draw of Algorithm 1 is another update."""
  config = tiny_config('dcgan', conditional=True, augment='translation', reuse_fakes=True)
  state = checkpoints.create_train_state(config, data_shape=mnist['image'].shape[1:],
                                         num_classes=10, axis_name=None)
  batch = _batch(mnist, 0)
  got, _ = jax.jit(steps.make_train_step(config, axis_name=None))(state, _stack([batch]))
  rng = jax.random.fold_in(state.rng, state.step)
  d_rng = jax.random.fold_in(rng, 0)
  with_aug = lambda fn: jax.jit(functools.partial(fn, augment='translation'))  # noqa: E731
  after_d, _ = with_aug(steps.d_step)(state, batch, rng=d_rng)
  assert _max_diff(got.d_params, after_d.d_params) < 1e-6
  z = steps._latents(state, jax.random.split(d_rng, 4)[0], 16, None)  # d_step's draw.
  monkeypatch.setattr(steps, '_latents', lambda *_: z)
  monkeypatch.setattr(steps, '_random_labels', lambda *_: batch['label'])
  expected, _ = with_aug(steps.g_step)(after_d, batch, rng=jax.random.fold_in(rng, 1))
  assert _max_diff(got.g_params, expected.g_params) < 1e-6
  assert _max_diff(got.g_batch_stats, expected.g_batch_stats) < 1e-6
  monkeypatch.undo()
  config.reuse_fakes = False
  fresh, _ = jax.jit(steps.make_train_step(config, axis_name=None))(state, _stack([batch]))
  assert _max_diff(fresh.d_params, after_d.d_params) < 1e-6
  assert _max_diff(fresh.g_params, expected.g_params) > 100 * max(
      _max_diff(got.g_params, expected.g_params), 1e-7)


# Steps are jitted in the tests: op by op, the first d_step and g_step of a process compile each
# operation alone (~12 s on the MLP).
_D_STEP, _G_STEP = jax.jit(steps.d_step), jax.jit(steps.g_step)


def test_each_step_moves_only_its_own_player(tiny_config, mnist):
  _, state = _state(tiny_config, mnist)
  batch, rng = _batch(mnist, 0), jax.random.PRNGKey(1)
  after_d, _ = _D_STEP(state, batch, rng=rng)
  after_g, _ = _G_STEP(state, batch, rng=rng)
  # D's step leaves G (params, statistics, optimiser) untouched, and G's step leaves D untouched.
  for untouched in (lambda s: s.g_params, lambda s: s.g_batch_stats, lambda s: s.g_opt_state):
    assert _max_diff(untouched(after_d), untouched(state)) == 0.0
  for untouched in (lambda s: s.d_params, lambda s: s.d_batch_stats, lambda s: s.d_opt_state):
    assert _max_diff(untouched(after_g), untouched(state)) == 0.0
  assert _max_diff(after_d.d_params, state.d_params) > 1e-5
  assert _max_diff(after_g.g_params, state.g_params) > 1e-5


def test_randomness_is_fresh_at_every_step(tiny_config, mnist):
  """The step's keys come from (rng, step): two steps on one batch draw other latents."""
  _, state = _state(tiny_config, mnist, **{'mlp.dropout': 0.0})
  batch = _batch(mnist, 0)
  _, first = _D_STEP(state, batch)
  _, second = _D_STEP(state.replace(step=state.step + 1), batch)
  assert abs(float(first['d_fake']) - float(second['d_fake'])) > 1e-6


def test_check_finite_names_the_step_and_the_metric():
  history = [{'d_loss': 0.7, 'g_loss': 0.7}, {'d_loss': 0.6, 'g_loss': float('nan')}]
  with pytest.raises(FloatingPointError, match='g_loss is nan at step 11'):
    train.check_finite(10, history)


def test_invalid_settings_fail_before_any_work(tiny_config):
  for overrides, message in [({'batch_size': 0}, 'batch_size'),
                             ({'optim.d_lr': -1.0}, 'd_lr'),
                             ({'num_train_steps': 0}, 'num_train_steps'),
                             ({'model': 'resnet'}, 'Unknown model'),
                             ({'steps_per_call': 0}, 'steps_per_call'),
                             ({'r1_gamma': -1.0}, 'r1_gamma'),
                             ({'r2_gamma': -1.0}, 'r2_gamma'),
                             ({'r1_every': 0}, 'r1_every'),
                             ({'r1_gamma': 1.0, 'r1_every': 4, 'steps_per_call': 2},
                              'steps_per_call=1'),
                             ({'top_k.min_fraction': 0.0}, 'top_k'),
                             ({'info.categories': 1}, 'categories must be'),
                             ({'info.categories': 100, 'info.continuous': 2}, 'latent_dim'),
                             ({'optim.decay_steps': 13}, 'decay_steps'),
                             ({'dcgan.minibatch_std': 5}, 'minibatch_std=5'),
                             ({'clusters': 10, 'conditional': True}, 'replace the labels'),
                             ({'clusters': -1}, 'clusters=-1'),
                             ({'label_smoothing': 0.1, 'loss': 'hinge'}, 'label_smoothing'),
                             ({'dcgan.d_dropout': 1.0}, 'd_dropout'),
                             ({'dcgan.minibatch_std': 4, 'dcgan.d_norm': 'none',
                               'gp_lambda': 10.0}, 'mixes them'),
                             # 12 steps, logs every 3: calls of 4 would cross log steps.
                             ({'steps_per_call': 4}, 'not a multiple of steps_per_call=4')]:
    with pytest.raises(ValueError, match=message):
      validation.validate_config(tiny_config('dcgan', **overrides))
  with pytest.raises(ValueError, match='need model=dcgan'):
    validation.validate_config(tiny_config('vanilla', **{'info.categories': 10}))


@pytest.mark.parametrize('unroll', [True, False])
def test_multi_step_equals_that_many_single_steps(tiny_config, mnist, unroll):
  # The MLP (with dropout) compiles in seconds. On the tiny DCGAN the unrolled form also agrees
  # to 3e-8; lax.scan differs by up to 1e-5 in a few weights (other fusion, Adam-amplified).
  config, state = _state(tiny_config, mnist)
  n = 3
  batches = [jax.tree.map(lambda x: x[None], _batch(mnist, i)) for i in range(n)]  # (k=1, B, ..)
  single = jax.jit(steps.make_train_step(config, axis_name=None))
  expected, expected_metrics = state, []
  for b in batches:
    expected, m = single(expected, b)
    expected_metrics.append(m)
  multi = jax.jit(multi_step.make_multi_step(config, n, axis_name=None, unroll=unroll))
  got, metrics = multi(state, jax.tree.map(lambda *x: np.stack(x), *batches))
  assert int(got.step) == n
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
  for name, values in metrics.items():
    np.testing.assert_allclose(values, [m[name] for m in expected_metrics], rtol=1e-5,
                               atol=1e-6, err_msg=name)


def test_r1_penalty_is_half_gamma_times_the_squared_input_gradient(tiny_config, mnist):
  # A linear D (no hidden layer, no dropout): logit = w . x + b, so grad_x logit = w for every x
  # and the penalty must be (gamma / 2) |w|^2 exactly.
  _, state = _state(tiny_config, mnist, **{'mlp.d_hidden': (), 'mlp.dropout': 0.0})
  w = state.d_params['Dense_0']['kernel']
  batch, rng = _batch(mnist, 0), jax.random.PRNGKey(3)
  _, plain = _D_STEP(state, batch, rng=rng)
  _, penalised = jax.jit(functools.partial(steps.d_step, r1_gamma=4.0))(state, batch, rng=rng)
  np.testing.assert_allclose(penalised['d_r1'], jnp.sum(w ** 2), rtol=1e-5)
  np.testing.assert_allclose(penalised['d_loss'] - plain['d_loss'], 2.0 * jnp.sum(w ** 2),
                             rtol=1e-4)
  assert float(plain['d_r1']) == 0.0  # Off by default: no second backward pass.


def test_r2_penalty_is_half_gamma_times_the_squared_input_gradient_at_the_fakes(tiny_config,
                                                                                 mnist):
  # On D with a hidden layer the input gradient differs from point to point: R2's must be D's
  # gradient at the fakes d_step draws (the same rng), not at the real images.
  _, state = _state(tiny_config, mnist, **{'mlp.dropout': 0.0})
  batch, rng = _batch(mnist, 0), jax.random.PRNGKey(3)
  fakes = steps.draw_fakes(state, batch, rng).images
  logits_sum = lambda x: jnp.sum(steps._discriminate(  # noqa: E731
      state, state.d_params, state.d_batch_stats, x, None, rng)[0])
  per_example = lambda x: jnp.mean(jnp.sum(  # noqa: E731
      jnp.square(jax.grad(logits_sum)(x)).reshape(len(x), -1), axis=1))
  _, plain = _D_STEP(state, batch, rng=rng)
  _, penalised = jax.jit(functools.partial(steps.d_step, r2_gamma=4.0))(state, batch, rng=rng)
  np.testing.assert_allclose(penalised['d_r2'], per_example(fakes), rtol=1e-5)
  assert abs(float(per_example(batch['image'])) / float(per_example(fakes)) - 1) > 0.05
  np.testing.assert_allclose(penalised['d_loss'] - plain['d_loss'], 2.0 * per_example(fakes),
                             rtol=1e-4)
  assert float(plain['d_r2']) == 0.0 and float(penalised['d_r1']) == 0.0


def test_lazy_r1_steps_weight_the_penalty_by_the_interval_or_leave_it_out(tiny_config, mnist):
  # On a linear D the regularised step's penalty is (gamma * r1_every / 2) |w|^2; the steps in
  # between are the unpenalised step, the same numbers as r1_gamma = 0.
  config, state = _state(tiny_config, mnist, **{'mlp.d_hidden': (), 'mlp.dropout': 0.0,
                                                'r1_gamma': 0.5, 'r1_every': 4})
  w = state.d_params['Dense_0']['kernel']
  batch = _stack([_batch(mnist, 0)])
  step = lambda c, **kw: jax.jit(steps.make_train_step(c, axis_name=None, **kw))(state, batch)
  _, lazy = step(config)
  _, between = step(config, regularize=False)
  config.r2_gamma = 0.25  # R2 runs on R1's steps, weighted by the same interval.
  _, lazy_both = step(config)
  config.r1_gamma = config.r2_gamma = 0.0
  _, plain = step(config)
  np.testing.assert_allclose(lazy['d_loss'] - plain['d_loss'], 0.5 * 0.5 * 4 * jnp.sum(w ** 2),
                             rtol=1e-4)
  np.testing.assert_allclose(lazy_both['d_loss'] - plain['d_loss'],
                             0.5 * (0.5 + 0.25) * 4 * jnp.sum(w ** 2), rtol=1e-4)
  for name in plain:
    np.testing.assert_array_equal(between[name], plain[name], err_msg=name)


def test_label_smoothing_enters_d_step_as_its_cross_entropy(tiny_config, mnist):
  # -[t log D + (1 - t) log(1 - D)] = -log D + s * logit for t = 1 - s: on a linear D (logit =
  # w . x + b) the smoothed loss exceeds the plain one by s times the mean real logit.
  _, state = _state(tiny_config, mnist, **{'mlp.d_hidden': (), 'mlp.dropout': 0.0})
  params = state.d_params['Dense_0']
  batch, rng = _batch(mnist, 0), jax.random.PRNGKey(3)
  real = batch['image'].reshape(batch['image'].shape[0], -1) @ params['kernel'] + params['bias']
  _, plain = _D_STEP(state, batch, rng=rng)
  smoothed_step = jax.jit(functools.partial(steps.d_step, label_smoothing=0.25))
  _, smoothed = smoothed_step(state, batch, rng=rng)
  np.testing.assert_allclose(smoothed['d_loss'] - plain['d_loss'], 0.25 * jnp.mean(real),
                             rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(smoothed['d_fake'], plain['d_fake'], rtol=1e-6)  # Same forward.


def test_relativistic_g_step_pairs_its_fakes_with_ds_scores_of_the_real_batch(tiny_config, mnist):
  # On a linear D (logit = w . x + b) G's loss is E softplus(D(x_i) - D(G(z_i))), the i-th real
  # of the batch against the i-th fake; other reals beside the same fakes give their own value.
  _, state = _state(tiny_config, mnist, **{'mlp.d_hidden': (), 'mlp.dropout': 0.0})
  params = state.d_params['Dense_0']
  logit = lambda x: x.reshape(x.shape[0], -1) @ params['kernel'][:, 0] + params['bias'][0]
  batch, rng = _batch(mnist, 0), jax.random.PRNGKey(3)
  fakes = steps.draw_fakes(state, batch, rng)
  g_step = jax.jit(functools.partial(steps.g_step, loss='relativistic'))
  _, metrics = g_step(state, batch, rng=rng, fakes=fakes)
  expected = jnp.mean(jax.nn.softplus(logit(batch['image']) - logit(fakes.images)))
  np.testing.assert_allclose(metrics['g_loss'], expected, rtol=1e-5)
  other = _batch(mnist, 1)  # Other reals, the same fakes: G's loss follows the reals' scores.
  _, metrics_other = g_step(state, other, rng=rng, fakes=fakes)
  np.testing.assert_allclose(metrics_other['g_loss'], jnp.mean(jax.nn.softplus(
      logit(other['image']) - logit(fakes.images))), rtol=1e-5)
  assert abs(float(metrics_other['g_loss']) - float(metrics['g_loss'])) > 1e-4


def r1_flatness(data, seed=0, num_steps=30):
  """E|grad_x D|^2 on real data and D(x) after `num_steps` d_steps with gamma 0 and 10."""
  def after_training(r1_gamma):
    config = tiny(vanilla.get_config(), seed=seed, **{'optim.d_lr': 1e-3})
    _, state = _state(config, data)
    d_step = jax.jit(functools.partial(steps.d_step, r1_gamma=r1_gamma))
    for i in range(num_steps):
      state, _ = d_step(state, _batch(data, i, seed=seed), rng=jax.random.PRNGKey(1000 * seed + i))
    _, metrics = jax.jit(functools.partial(steps.d_step, r1_gamma=1.0))(
        state, _batch(data, 99, seed=seed), rng=jax.random.PRNGKey(99))
    return float(metrics['d_r1']), float(metrics['d_real'])
  (free, _), (flat, flat_real) = after_training(0.0), after_training(10.0)
  return flat / free, flat_real


def test_r1_penalty_keeps_the_discriminator_flat_on_real_data(mnist):
  ratio, flat_real = r1_flatness(mnist)
  assert ratio < 0.5, ratio  # The penalty is what keeps |grad_x D| small (0.13-0.19) ...
  assert flat_real > 0.5, flat_real  # ... while D still accepts the real data (>= 0.91).


def test_top_k_keeps_the_fakes_d_rates_most_real_and_anneals_to_its_floor():
  logits = jnp.array([3.0, -1.0, 2.0, 0.0, -5.0, 1.0, 4.0, -2.0])
  weights, kept = losses_lib.top_k_weights(logits, 0.25, axis_name=None)
  np.testing.assert_array_equal(weights, [4, 0, 0, 0, 0, 0, 4, 0])  # The 2 largest, mean 1.
  assert float(kept) == 0.25
  # The weighted loss is the plain loss of the kept fakes alone.
  np.testing.assert_allclose(
      losses_lib.non_saturating_generator_loss(fake_logits=logits, weights=weights),
      losses_lib.non_saturating_generator_loss(fake_logits=jnp.array([3.0, 4.0])), rtol=1e-6)
  schedule = losses_lib.TopK(min_fraction=0.5, decay=0.9, decay_every=10)
  fractions = [float(schedule.fraction(jnp.array(s))) for s in (0, 9, 10, 25, 10_000)]
  np.testing.assert_allclose(fractions, [1.0, 1.0, 0.9, 0.81, 0.5], rtol=1e-6)


def test_top_k_step_is_the_plain_step_until_it_anneals(tiny_config, mnist):
  _, state = _state(tiny_config, mnist)
  batch, rng = _batch(mnist, 0), jax.random.PRNGKey(5)
  top_k = losses_lib.TopK(min_fraction=0.5, decay=0.5, decay_every=1)
  top_k_step = jax.jit(functools.partial(steps.g_step, top_k=top_k))
  plain, _ = _G_STEP(state, batch, rng=rng)
  same, metrics = top_k_step(state, batch, rng=rng)  # Step 0: fraction 1.
  assert float(metrics['g_top_k']) == 1.0
  for a, b in zip(jax.tree.leaves(same.g_params), jax.tree.leaves(plain.g_params)):
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-7)
  later = state.replace(step=jnp.asarray(3, jnp.int32))  # 0.5^3 -> its floor, 0.5.
  half, metrics = top_k_step(later, batch, rng=rng)
  assert float(metrics['g_top_k']) == 0.5
  moved = [float(jnp.abs(a - b).max()) for a, b in zip(jax.tree.leaves(half.g_params),
                                                        jax.tree.leaves(plain.g_params))]
  assert max(moved) > 1e-5  # Half the fakes' gradients are gone: another update.


def test_learning_rate_holds_then_falls_linearly_to_zero_over_the_last_steps():
  optim = tiny(vanilla.get_config(), **{'optim.decay_steps': 4}).optim
  for k in (1, 2):  # D's schedule counts k updates per generator step.
    schedule = optimizers.learning_rate_schedule(optim, 1e-3, num_train_steps=10,
                                                 updates_per_step=k)
    for count in range(12 * k):
      held = count / k - 6  # Generator steps since the decay began at step 10 - 4.
      np.testing.assert_allclose(float(schedule(count)), 1e-3 * np.clip(1 - held / 4, 0, 1),
                                 rtol=1e-6, atol=1e-12, err_msg=f'k={k} count={count}')
  with pytest.raises(ValueError, match='decay_steps'):
    optimizers.learning_rate_schedule(optim, 1e-3, num_train_steps=3)


@pytest.mark.parametrize('k', [1, 2])
def test_learning_rate_decay_reaches_the_steps_through_the_train_state(tiny_config, mnist, k):
  # 4 steps, the last 2 decaying, against the same run at constant rates. With k = 1 the rates
  # are 1, 1, 1, 1/2 of the base: three equal steps, then D's update (from the same state) is
  # halved. With k = 2 D's 8 updates run at 1, 1, 1, 1, 1, 3/4, 1/2, 1/4: two equal steps, then
  # the runs part (a D schedule counting generator steps would part them one step earlier).
  runs = {}
  for decay in (0, 2):
    config, state = _state(tiny_config, mnist, num_train_steps=4, num_d_steps=k,
                           **{'optim.decay_steps': decay})
    step = jax.jit(steps.make_train_step(config, axis_name=None))
    states = [state]
    for i in range(4):
      batch = jax.tree.map(lambda *x: np.stack(x), *[_batch(mnist, k * i + j) for j in range(k)])
      states.append(step(states[-1], batch)[0])
    runs[decay] = states
  same = 3 if k == 1 else 2
  for i in range(same + 1):
    for a, b in zip(jax.tree.leaves(runs[2][i].d_params), jax.tree.leaves(runs[0][i].d_params)):
      # The same rate, read from the schedule or folded in as a constant, may round apart by a
      # few ulps (2.6e-10 seen); a rate decayed a step early would move them by ~5e-5 (a
      # quarter of Adam's step of ~lr = 2e-4).
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-9)
  moved = lambda run: jax.tree.map(lambda a, b: b - a, run[same].d_params,  # noqa: E731
                                   run[same + 1].d_params)
  decayed, constant = moved(runs[2]), moved(runs[0])
  if k == 1:
    for a, b in zip(jax.tree.leaves(decayed), jax.tree.leaves(constant)):
      # Updates of ~1e-4 read as differences of weights up to ~0.2, which float32 rounds to 1.5e-8.
      np.testing.assert_allclose(a, 0.5 * b, rtol=1e-5, atol=5e-8)
  else:
    assert max(float(jnp.abs(a - b).max()) for a, b in
               zip(jax.tree.leaves(decayed), jax.tree.leaves(constant))) > 1e-6
