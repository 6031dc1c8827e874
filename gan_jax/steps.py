"""Pure training steps of Goodfellow et al. (2014), Algorithm 1.

Every step is written once, per replica: `(state, batch, ...) -> (state, metrics)`. With
`axis_name=None` a step runs on one device as plain `jax.jit`-able code; with an axis name it runs
under `jax.pmap` (or `shard_map`) and averages gradients, metrics and BatchNorm statistics across
that axis, so the result does not depend on how many devices share the global batch.

Randomness is derived inside from the state: `fold_in(state.rng, state.step)`, then one key per
sub-step. Latents and labels are drawn for the global batch and sliced per device (see
`layers.global_rows`), again so that 1 and 8 devices compute the same numbers.
"""
import functools
from typing import Any, Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import optax

from gan_jax import augment as diff_augment
from gan_jax import consistency as consistency_lib
from gan_jax import ema
from gan_jax import info as info_lib
from gan_jax import losses
from gan_jax.models import layers
from gan_jax.models.layers import AXIS, sample_latent  # noqa: F401 (steps.sample_latent is API)
# The state and G's pass live in gan_jax/state.py; steps.GANState etc. stay the API.
from gan_jax.state import GANState, create_state, generate, generate_samples  # noqa: F401

Batch = Dict[str, jax.Array]
Metrics = Dict[str, jax.Array]


def _pmean(tree, axis_name):
  return tree if axis_name is None else jax.lax.pmean(tree, axis_name)


def _latents(state: GANState, rng, local_num, axis_name):
  draw = lambda r, n: sample_latent(r, n, state.latent_dim, state.prior)
  return layers.global_rows(draw, rng, local_num, axis_name)


def _random_labels(state: GANState, rng, local_num, axis_name):
  if not state.num_classes:
    return None
  if isinstance(state.label_probs, dict):
    draw = lambda r, n: jax.random.randint(r, (n,), 0, state.num_classes)
  else:
    draw = lambda r, n: jax.random.categorical(r, jnp.log(state.label_probs), shape=(n,))
  return layers.global_rows(draw, rng, local_num, axis_name)


def _check_axis_name(state: GANState, axis_name: Optional[str]) -> None:
  """Fails at trace time when the models span another device axis than the step.

  A model built without the step's axis would run under pmap without complaint, but with
  per-device BatchNorm statistics and the same dropout mask on every device.
  """
  for player, model in (('generator', state.generator), ('discriminator', state.discriminator)):
    built = getattr(model, 'axis_name', axis_name)
    if built != axis_name:
      raise ValueError(
          f'The {player} was built with axis_name={built!r} but the step runs with '
          f'axis_name={axis_name!r}: build the models with the axis the step runs over '
          f'(models.create_models(..., axis_name={axis_name!r})).')


def _discriminate(state, d_params, batch_stats, x, labels, rng, info: bool = False):
  """D's logits in training mode, and D's batch statistics updated by this batch. With `info`
  the logits come as (logits, Q's outputs) (InfoGAN's head, gan_jax/info.py)."""
  mutable = ['batch_stats', 'intermediates'] if info else ['batch_stats']
  logits, new_vars = state.discriminator.apply(
      {'params': d_params, 'batch_stats': batch_stats}, x, labels, train=True,
      rngs={'dropout': rng}, mutable=mutable)
  if info:
    logits = (logits, new_vars['intermediates']['info'][0])
  return logits, new_vars.get('batch_stats', {})


def _input_grad_norm(fn, x):
  """(logits, aux, E_i |grad_{x_i} logits_i|^2) for fn(x) -> (logits, aux): the input gradients
  come from the forward pass's own pullback with a cotangent of ones, each example's gradient (D
  in training mode with BatchNorm adds the batch statistics' cross terms, as in the references)."""
  logits, pullback, aux = jax.vjp(fn, x, has_aux=True)
  grads, = pullback(jnp.ones_like(logits))
  return logits, aux, jnp.mean(jnp.sum(jnp.square(grads).reshape(x.shape[0], -1), axis=1))


def _info_term(logits, z, info: info_lib.Info):
  """(D's logits, InfoGAN's term, its metrics) from `_discriminate(..., info.on)`'s logits."""
  if not info.on:
    return logits, jnp.zeros(()), {}
  logits, q = logits
  return (logits, *info_lib.loss(q, z, info))


def _step_rng(state: GANState) -> jax.Array:
  return jax.random.fold_in(state.rng, state.step)


class Fakes(NamedTuple):
  """One forward pass of G and its pullback: g_step's own, or D's update's shared with G's
  (`train_step(reuse_fakes=True)`)."""
  z: jax.Array
  labels: Optional[jax.Array]
  images: jax.Array
  g_batch_stats: Any  # G's statistics updated by this pass, as g_step's own pass updates them.
  pullback: Any  # d images -> (d g_params,): jax.vjp of the pass.


def _g_pass(state: GANState, z, labels, rng) -> Fakes:
  """G's pass in training mode on z and labels, its pullback kept for G's gradient (unused, as in
  d_step's own draw, it is dead code that XLA drops)."""
  images, pullback, stats = jax.vjp(
      lambda p: generate(state.replace(g_params=p), z, labels, train=True, rng=rng),
      state.g_params, has_aux=True)
  return Fakes(z, labels, images, stats, pullback)


def draw_fakes(state: GANState, batch: Batch, rng: jax.Array,
               axis_name: Optional[str] = None) -> Fakes:
  """The latents and fakes d_step draws with `rng`: its labels are the real batch's."""
  z_rng, g_rng = jax.random.split(rng, 4)[:2]  # d_step's split.
  z = _latents(state, z_rng, batch['image'].shape[0], axis_name)
  return _g_pass(state, z, batch.get('label'), g_rng)


def d_step(state: GANState, batch: Batch, *, loss: str = 'non_saturating',
           rng: Optional[jax.Array] = None, r1_gamma: float = 0.0, r2_gamma: float = 0.0,
           gp_lambda: float = 0.0, augment: str = '', info: info_lib.Info = info_lib.Info(),
           consistency: consistency_lib.Consistency = consistency_lib.Consistency(),
           fakes: Optional[Fakes] = None, label_smoothing: float = 0.0,
           axis_name: Optional[str] = None) -> Tuple[GANState, Metrics]:
  """One discriminator update on a real batch and fresh fakes (G is held fixed).

  `batch['image']` is this device's (B, ...) real batch in [-1, 1]; `batch['label']` is required
  for conditional models. `loss` names D's half of a pair in losses.LOSSES. `rng` defaults to one
  derived from the state's key and step.
  `r1_gamma` > 0 adds Mescheder et al.'s (2018) R1 penalty (gamma / 2) E_x |grad_x D's logit|^2
  on real data: it damps D where the data is, so that G can settle on the data rather than
  orbit it (the 2-D mixtures need it; see experiments/mixtures2d). `r2_gamma` > 0 adds the same
  penalty on the fakes (R2; R3GAN, Huang et al. 2024, takes R1 and R2 together).
  `gp_lambda` > 0 adds WGAN-GP's gradient penalty (losses.gradient_penalty) on interpolates of
  the real and fake batch, with one mixing weight per pair drawn for the global batch.
  `augment` is a DiffAugment policy (gan_jax/augment.py) applied to every image D sees, real and
  fake, with independent draws; '' = none.
  `info` (off by default): InfoGAN's term on the fakes' codes (gan_jax/info.py), minimised by D's
  Q head (and the layers it shares with D) beside D's loss; adds its metrics.
  `consistency` (off by default): CR-GAN's / bCR's penalty on D's logits moving under a small
  translation of the real and / or fake images (gan_jax/consistency.py).
  `fakes`: `draw_fakes(state, batch, rng)`, G's pass done by the caller (the same images).
  `label_smoothing` > 0: real images labelled 1 - label_smoothing in D's cross-entropy
  (one-sided; losses.discriminator_loss).
  """
  _check_axis_name(state, axis_name)
  rng = _step_rng(state) if rng is None else rng
  _, _, real_rng, fake_rng = jax.random.split(rng, 4)  # The first two: draw_fakes'.
  # Keys of the options come from fold_in, so that turning one on changes no other draw.
  aug_rng, gp_rng, cr_rng = (jax.random.fold_in(rng, i) for i in (4, 5, 6))
  real, labels = batch['image'], batch.get('label')
  # Fakes come from G in training mode (as in the reference implementations); G's running
  # statistics are updated by the generator step only.
  fakes = draw_fakes(state, batch, rng, axis_name) if fakes is None else fakes
  z, fake = fakes.z, jax.lax.stop_gradient(fakes.images)
  if augment:  # Static. Real and fake get their own draws: the policy is random per image.
    real_aug_rng, fake_aug_rng = jax.random.split(aug_rng)
    real = diff_augment.diff_augment(real, real_aug_rng, augment, axis_name=axis_name)
    fake = diff_augment.diff_augment(fake, fake_aug_rng, augment, axis_name=axis_name)
  loss_of_logits = losses.LOSSES[loss][0]
  if label_smoothing:  # Static.
    loss_of_logits = functools.partial(loss_of_logits, real_target=1.0 - label_smoothing)

  def loss_fn(d_params):
    # Real and fake go through D separately, so BatchNorm normalises each batch on its own.
    real_fn = lambda x: _discriminate(state, d_params, state.d_batch_stats, x, labels, real_rng)
    r1, r2, gp = jnp.zeros(()), jnp.zeros(()), jnp.zeros(())
    if r1_gamma:  # Static: no second backward pass unless asked for.
      real_logits, stats, r1 = _input_grad_norm(real_fn, real)
    else:
      real_logits, stats = real_fn(real)

    def fake_fn(x):  # D's logits, beside _discriminate's whole output (Q's too) and statistics.
      out, new_stats = _discriminate(state, d_params, stats, x, labels, fake_rng, info.on)
      return (out[0] if info.on else out), (out, new_stats)
    if r2_gamma:  # Static.
      _, (fake_out, stats), r2 = _input_grad_norm(fake_fn, fake)
    else:
      fake_out, stats = fake_fn(fake)[1]
    fake_logits, info_value, info_metrics = _info_term(fake_out, z, info)
    value = loss_of_logits(real_logits=real_logits, fake_logits=fake_logits) + info_value
    cr = jnp.zeros(())
    for i, (weight, x, logits) in enumerate(((consistency.real, real, real_logits),
                                             (consistency.fake, fake, fake_logits))):
      if weight:  # Static: a transformed pass only for a weighted side; D's statistics stay.
        t_rng, drop_rng = jax.random.split(jax.random.fold_in(cr_rng, i))
        x_t = consistency_lib.transform(x, t_rng, consistency, axis_name)
        cr += weight * consistency_lib.penalty(
            logits, _discriminate(state, d_params, stats, x_t, labels, drop_rng)[0])
    if gp_lambda:  # Static. The interpolates' pass leaves D's statistics as they are.
      eps_rng, drop_rng = jax.random.split(gp_rng)
      eps = layers.global_rows(lambda r, n: jax.random.uniform(r, (n,)), eps_rng,
                               real.shape[0], axis_name)
      critic = lambda x: _discriminate(state, d_params, stats, x, labels, drop_rng)
      gp, _ = losses.gradient_penalty(critic, real, fake, eps)
    total = value + 0.5 * (r1_gamma * r1 + r2_gamma * r2) + gp_lambda * gp + cr
    return total, (real_logits, fake_logits, stats, r1, r2, gp, cr, info_metrics)

  (loss_value, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.d_params)
  real_logits, fake_logits, stats, r1, r2, gp, cr, info_metrics = aux
  grads = _pmean(grads, axis_name)
  updates, d_opt_state = state.d_tx.update(grads, state.d_opt_state, state.d_params)
  d_params = optax.apply_updates(state.d_params, updates)
  metrics = _pmean({
      'd_loss': loss_value,  # What D minimises: its loss plus the penalties (also on their own).
      # D(x) and D(G(z)) read D's output as a logit, which it is for the cross-entropy losses;
      # for hinge / least squares / Wasserstein / relativistic compare d_gap instead.
      'd_real': jnp.mean(jax.nn.sigmoid(real_logits)),
      'd_fake': jnp.mean(jax.nn.sigmoid(fake_logits)),
      'd_gap': jnp.mean(real_logits) - jnp.mean(fake_logits),  # WGAN: the W1 estimate.
      'd_real_acc': jnp.mean(real_logits > 0),
      'd_fake_acc': jnp.mean(fake_logits < 0),
      'd_r1': r1,  # E_x |grad_x logit|^2 on real data (0 when r1_gamma = 0).
      'd_r2': r2,  # The same on the fakes (0 when r2_gamma = 0).
      'd_gp': gp,  # The gradient penalty before gp_lambda (0 when gp_lambda = 0).
      'd_cr': cr,  # The consistency penalties, weighted (0 when off).
      **{'d_' + k: v for k, v in info_metrics.items()},
  }, axis_name)
  metrics['d_grad_norm'] = optax.tree.norm(grads)
  metrics['d_param_norm'] = optax.tree.norm(d_params)
  state = state.replace(d_params=d_params, d_opt_state=d_opt_state, d_batch_stats=stats)
  return state, metrics


def g_step(state: GANState, batch: Batch, *, loss: str = 'non_saturating',
           top_k: losses.TopK = losses.TopK(), augment: str = '',
           info: info_lib.Info = info_lib.Info(), rng: Optional[jax.Array] = None,
           fakes: Optional[Fakes] = None,
           axis_name: Optional[str] = None) -> Tuple[GANState, Metrics]:
  """One generator update against the current D. `batch` sets this device's batch size; only a
  relativistic loss (losses.RELATIVISTIC) reads its images, D's scores of them held constant.

  `loss` names G's half of a pair in losses.LOSSES. `top_k` (off by default): see losses.TopK;
  it adds the metric `g_top_k`, the fraction of fakes G learnt from. `augment`: the DiffAugment
  policy of d_step, so that G is judged on what D was trained on; its gradient flows through it.
  `info`: InfoGAN's term of d_step, here minimised by G (Q held fixed): G learns to make its
  codes legible. `fakes` (from `draw_fakes`, by D's step with this G): G learns from those
  latents, labels and images, pulling D's gradient back through their pass, instead of a pass of
  its own on fresh ones: the update of g_step on `fakes.z` and `fakes.labels`, one G forward
  fewer.
  """
  _check_axis_name(state, axis_name)
  rng = _step_rng(state) if rng is None else rng
  z_rng, y_rng, g_rng, d_rng = jax.random.split(rng, 4)
  aug_rng = jax.random.fold_in(rng, 4)  # As in d_step: the default draws stay as they were.
  local_num = batch['image'].shape[0]
  if fakes is None:
    fakes = _g_pass(state, _latents(state, z_rng, local_num, axis_name),
                    _random_labels(state, y_rng, local_num, axis_name), g_rng)
  z, labels = fakes.z, fakes.labels
  loss_of_logits = losses.LOSSES[loss][1]
  if loss in losses.RELATIVISTIC:  # Static. G's loss pairs its fakes with D's scores of reals.
    real = batch['image']
    if augment:
      real = diff_augment.diff_augment(real, jax.random.fold_in(rng, 5), augment,
                                       axis_name=axis_name)
    real_logits, _ = _discriminate(state, state.d_params, state.d_batch_stats, real,
                                   batch.get('label'), jax.random.fold_in(rng, 6))
    loss_of_logits = functools.partial(loss_of_logits,
                                       real_logits=jax.lax.stop_gradient(real_logits))

  def loss_of_fakes(fake):
    if augment:  # Static.
      fake = diff_augment.diff_augment(fake, aug_rng, augment, axis_name=axis_name)
    # D in training mode, as in its own step; its statistics' update is D's step's business.
    fake_logits, _ = _discriminate(state, state.d_params, state.d_batch_stats, fake, labels,
                                   d_rng, info.on)
    fake_logits, info_value, info_metrics = _info_term(fake_logits, z, info)
    weights, kept = None, jnp.ones(())
    if top_k.on:  # Static: the plain mean unless asked for.
      weights, kept = losses.top_k_weights(fake_logits, top_k.fraction(state.step), axis_name)
    value = loss_of_logits(fake_logits=fake_logits, weights=weights) + info_value
    return value, (fake_logits, kept, info_metrics)

  # D's gradient at the fakes, pulled back through G's pass: G's params' gradient.
  (loss, (fake_logits, kept, info_metrics)), cotangent = jax.value_and_grad(
      loss_of_fakes, has_aux=True)(fakes.images)
  grads, g_stats = fakes.pullback(cotangent)[0], fakes.g_batch_stats
  grads = _pmean(grads, axis_name)
  updates, g_opt_state = state.g_tx.update(grads, state.g_opt_state, state.g_params)
  g_params = optax.apply_updates(state.g_params, updates)
  metrics = _pmean({'g_loss': loss, 'g_fake': jnp.mean(jax.nn.sigmoid(fake_logits)),
                    **{'g_' + k: v for k, v in info_metrics.items()}}, axis_name)
  if top_k.on:
    metrics['g_top_k'] = kept
  metrics['g_grad_norm'] = optax.tree.norm(grads)
  metrics['g_param_norm'] = optax.tree.norm(g_params)
  state = state.replace(g_params=g_params, g_opt_state=g_opt_state, g_batch_stats=g_stats)
  return state, metrics


def train_step(state: GANState, batch: Batch, *, num_d_steps: int = 1,
               loss: str = 'non_saturating', r1_gamma: float = 0.0, r2_gamma: float = 0.0,
               gp_lambda: float = 0.0, top_k: losses.TopK = losses.TopK(), augment: str = '',
               info: info_lib.Info = info_lib.Info(), ema_average: ema.EMA = ema.EMA(),
               consistency: consistency_lib.Consistency = consistency_lib.Consistency(),
               reuse_fakes: bool = False, label_smoothing: float = 0.0,
               axis_name: Optional[str] = None) -> Tuple[GANState, Metrics]:
  """Algorithm 1: `num_d_steps` discriminator updates, each on its own real batch, then one
  generator update, then G's moving average (when `ema_average` is on).

  `batch` leaves have a leading axis of size `num_d_steps`: `batch['image']` is (k, B, ...).
  Returns D's metrics averaged over its k updates and G's metrics. `loss`: a pair of
  losses.LOSSES; `r1_gamma`, `r2_gamma`, `gp_lambda`, `augment`, `info`, `consistency`,
  `label_smoothing`: see d_step; `top_k`: see g_step. `reuse_fakes`: G's update learns from the
  last D update's latents and fakes (as PyTorch's DCGAN example does) and reuses their forward
  pass, instead of a fresh draw (Algorithm 1): one G forward fewer per step.
  """
  rng = _step_rng(state)
  # A Python loop, not lax.scan: k is small and static, and on XLA:CPU convolutions inside a
  # while loop ran ~10x slower (1.0 s vs 0.09 s for the 28x28 DCGAN step, k = 1, jax 0.10.2).
  d_metrics, fakes = [], None
  for i in range(num_d_steps):
    sub_batch = jax.tree.map(lambda x, i=i: x[i], batch)
    d_rng = jax.random.fold_in(rng, i)
    if reuse_fakes and i == num_d_steps - 1:  # Static.
      fakes = draw_fakes(state, sub_batch, d_rng, axis_name)
    state, m = d_step(state, sub_batch, loss=loss, rng=d_rng, r1_gamma=r1_gamma,
                      r2_gamma=r2_gamma, gp_lambda=gp_lambda, augment=augment, info=info,
                      consistency=consistency, fakes=fakes, label_smoothing=label_smoothing,
                      axis_name=axis_name)
    d_metrics.append(m)
  last = jax.tree.map(lambda x: x[-1], batch)
  state, g_metrics = g_step(state, last, loss=loss, top_k=top_k, augment=augment, info=info,
                            rng=jax.random.fold_in(rng, num_d_steps), fakes=fakes,
                            axis_name=axis_name)
  if ema_average.on:  # Static.
    state = state.replace(g_ema_params=ema_average.update(state.g_ema_params, state.g_params,
                                                          state.step))
  metrics = {**jax.tree.map(lambda *v: jnp.mean(jnp.stack(v)), *d_metrics), **g_metrics}
  return state.replace(step=state.step + 1), metrics


def make_train_step(config, *, axis_name: Optional[str] = AXIS, regularize: bool = True):
  """`train_step` with the config's static choices bound (for pmap/jit).

  Lazy R1 (StyleGAN2's; `config.r1_every` > 1): R1's second backward pass makes its step 1.1-1.2x
  the plain one (MNIST clusters=30, batch 64, D's convs' own second derivatives; 2.4-2.8x on XLA's;
  experiments/benchmarks/r1_step_bench.py), so the caller runs the regularised step, its
  penalty weighted by r1_every, at steps divisible by r1_every and `regularize=False`'s step
  (no penalty) at the others; train.train_and_evaluate does. A lax.cond on the step inside one
  program ran slower still on XLA:CPU (~4 min for 500 steps, with XLA's second derivatives).
  """
  if config.loss not in losses.LOSSES:
    raise ValueError(f'Unknown loss {config.loss!r}; choose one of {sorted(losses.LOSSES)}.')
  weight = losses.r1_interval(config) if regularize else 0.0  # R2 runs on R1's schedule.
  return functools.partial(train_step, num_d_steps=config.num_d_steps, loss=config.loss,
                           r1_gamma=config.get('r1_gamma', 0.0) * weight,
                           r2_gamma=config.get('r2_gamma', 0.0) * weight,
                           gp_lambda=config.get('gp_lambda', 0.0), top_k=losses.top_k_of(config),
                           augment=config.get('augment', ''), info=info_lib.of_config(config),
                           ema_average=ema.of_config(config),
                           consistency=consistency_lib.of_config(config),
                           reuse_fakes=config.get('reuse_fakes', False),
                           label_smoothing=config.get('label_smoothing', 0.0), axis_name=axis_name)
