"""Checks that fail fast, before data or compilation time is spent, on settings that cannot run.

Below the trainer and the checkpoint code, which both call it; it imports neither.
"""
import os

from absl import logging
import jax
import ml_collections

from gan_jax import augment
from gan_jax import data_dir
from gan_jax import errors
from gan_jax import evaluation
from gan_jax import info
from gan_jax import losses
from gan_jax import models
from gan_jax import optimizers
from gan_jax import xla_cpu
from gan_jax.evaluation import inception

ConfigError = errors.ConfigError


def validate_config(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError on settings that cannot run, naming the setting and the fix."""
  n = jax.device_count()
  if config.batch_size <= 0 or config.batch_size % n:
    raise ConfigError(f'batch_size={config.batch_size} must be a positive multiple of the '
                      f'{n} devices; set --config.batch_size to a multiple of {n}.')
  for key in ('num_train_steps', 'num_d_steps', 'log_every_steps', 'sample_every_steps',
              'checkpoint_every_steps', 'keep_checkpoints', 'latent_dim'):
    if config[key] <= 0:
      raise ConfigError(f'{key}={config[key]} must be positive; set --config.{key}.')
  if not config.get('r1_gamma', 0.0) >= 0:
    raise ConfigError(f'r1_gamma={config.r1_gamma} must be >= 0 (0 = off); set --config.r1_gamma.')
  if not config.get('r2_gamma', 0.0) >= 0:
    raise ConfigError(f'r2_gamma={config.r2_gamma} must be >= 0 (0 = off); set --config.r2_gamma.')
  if not config.get('r1_every', 1) >= 1:
    raise ConfigError(f'r1_every={config.r1_every} must be >= 1 (1 = every step); '
                      'set --config.r1_every.')
  if losses.r1_interval(config) > 1 and config.get('steps_per_call', 1) > 1:
    raise ConfigError(f'r1_every={config.r1_every} (lazy R1) picks the step per call; it needs '
                      'steps_per_call=1; set --config.steps_per_call=1 or --config.r1_every=1.')
  if 'consistency' in config:
    c = config.consistency
    if not (c.real >= 0 and c.fake >= 0 and c.max_shift >= 1):
      raise ConfigError(f'consistency={c.to_dict()} needs real >= 0, fake >= 0 (0 = off) and '
                        'max_shift >= 1; set --config.consistency.*.')
  if 'top_k' in config:
    t = config.top_k
    if not (0 < t.min_fraction <= 1 and 0 < t.decay <= 1 and t.decay_every > 0):
      raise ConfigError(f'top_k={t.to_dict()} needs 0 < min_fraction <= 1, 0 < decay <= 1 and '
                        'decay_every > 0; set --config.top_k.*.')
  if config.get('clusters', 0) < 0 or (config.get('clusters') and config.conditional):
    raise ConfigError(f'clusters={config.clusters} with conditional={config.conditional}: '
                      'clusters (> 0) replace the labels of a conditional model; set one of '
                      '--config.clusters=0 or --config.conditional=False.')
  codes = info.of_config(config)
  if codes.on and config.model != 'dcgan':  # Only the DCGAN's D has a Q head.
    raise ConfigError(f'InfoGAN codes (config.info) need model=dcgan, not {config.model!r}.')
  if codes.categories == 1 or min(codes.categories, codes.continuous) < 0:
    raise ConfigError(f'info={config.info.to_dict()}: categories must be 0 (off) or >= 2 and '
                      'continuous >= 0; set --config.info.*.')
  if codes.outputs > config.latent_dim:
    raise ConfigError(f'config.info reads {codes.outputs} entries of z for its codes, more than '
                      f'latent_dim={config.latent_dim}; set --config.latent_dim.')
  per_call = config.get('steps_per_call', 1)
  if per_call <= 0:
    raise ConfigError(f'steps_per_call={per_call} must be positive; set --config.steps_per_call.')
  # The loop acts (logs, samples, checkpoints, evaluates, stops) between calls only, so every
  # cadence must fall on a call boundary; a checkpoint is then always at a multiple of it too.
  cadences = {'num_train_steps': config.num_train_steps,
              'log_every_steps': config.log_every_steps,
              'sample_every_steps': config.sample_every_steps,
              'checkpoint_every_steps': config.checkpoint_every_steps}
  if config.get('eval') and config.eval.every_steps:
    cadences['eval.every_steps'] = config.eval.every_steps
  for key, value in cadences.items():
    if value % per_call:
      raise ConfigError(f'{key}={value} is not a multiple of steps_per_call={per_call}; '
                        f'set --config.{key} to a multiple of it (or change steps_per_call).')
  for key in ('g_lr', 'd_lr'):
    if not config.optim[key] > 0:  # Also catches NaN.
      raise ConfigError(f'optim.{key}={config.optim[key]} must be positive; '
                        f'set --config.optim.{key}.')
  try:  # The schedule's own check, before any work.
    optimizers.learning_rate_schedule(config.optim, 1.0, config.num_train_steps)
  except ValueError as e:
    raise ConfigError(f'{e} Set --config.optim.decay_steps.') from None
  choices = {'model': sorted(models.MODELS), 'loss': sorted(losses.LOSSES),
             'parallel': ['pmap', 'shard_map'], 'prior': ['normal', 'uniform'],
             'optim.name': ['adam', 'sgd'], 'xla_cpu_kernels': list(xla_cpu.KERNELS)}
  for key, allowed in choices.items():
    value = config.optim.name if key == 'optim.name' else config[key]
    if value not in allowed:
      raise ConfigError(f'Unknown {key} {value!r}; set --config.{key} to one of {allowed}.')
  if config.model == 'dcgan':
    try:
      models.dcgan.num_upsamplings(config.image_size)
    except ValueError as e:
      raise ConfigError(str(e)) from None
  if config.model == 'dcgan_seed32' and (config.image_size != 32 or config.conditional):
    raise ConfigError('dcgan_seed32 makes unconditional 32x32 images; set '
                      '--config.image_size=32 --config.conditional=False or another model.')
  validate_toolbox(config)
  validate_eval(config)


def validate_toolbox(config: ml_collections.ConfigDict) -> None:
  """The losses' penalties, D's normalisation, DiffAugment and the EMA of G."""
  d_norm = config.dcgan.get('d_norm', 'batch') if 'dcgan' in config else 'batch'
  if config.model == 'dcgan' and d_norm not in models.dcgan.D_NORMS:
    raise ConfigError(f'Unknown dcgan.d_norm {d_norm!r}; set --config.dcgan.d_norm to one of '
                      f'{list(models.dcgan.D_NORMS)}.')
  g_upsampling = config.dcgan.get('g_upsampling', 'transposed') if 'dcgan' in config else None
  if config.model == 'dcgan' and g_upsampling not in models.dcgan.G_UPSAMPLINGS:
    raise ConfigError(f'Unknown dcgan.g_upsampling {g_upsampling!r}; set '
                      f'--config.dcgan.g_upsampling to one of {list(models.dcgan.G_UPSAMPLINGS)}.')
  gp_lambda = config.get('gp_lambda', 0.0)
  if gp_lambda < 0:
    raise ConfigError(f'gp_lambda={gp_lambda} must be >= 0 (0 = off); set --config.gp_lambda.')
  d_has_batch_norm = config.model == 'dcgan_seed32' or (config.model == 'dcgan'
                                                         and d_norm == 'batch')
  mbstd = config.dcgan.get('minibatch_std', 0) if config.model == 'dcgan' else 0
  per_device = config.batch_size // jax.device_count()
  if mbstd < 0 or (mbstd and per_device % mbstd):
    # Groups never straddle devices, so 1 or 8 devices see the same groups.
    raise ConfigError(f'dcgan.minibatch_std={mbstd} must be 0 (off) or a group size that divides '
                      f'the per-device batch ({per_device} on {jax.device_count()} devices); set '
                      '--config.dcgan.minibatch_std.')
  if gp_lambda and mbstd:
    raise ConfigError('The gradient penalty needs a D that judges each example on its own, and '
                      'the minibatch standard deviation mixes them: set '
                      '--config.dcgan.minibatch_std=0 or --config.gp_lambda=0.')
  if gp_lambda and d_has_batch_norm:
    # BatchNorm mixes the examples, so an interpolate's gradient is not its own: the penalty
    # would constrain the wrong function (Gulrajani et al., section 4).
    raise ConfigError('The gradient penalty needs a D without BatchNorm: set '
                      "--config.dcgan.d_norm=none (or 'spectral'), or --config.gp_lambda=0.")
  smoothing = config.get('label_smoothing', 0.0)
  if not 0 <= smoothing < 1 or (smoothing and config.loss not in losses.SMOOTHABLE):
    raise ConfigError(f'label_smoothing={smoothing} must be in [0, 1), and 0 unless the loss is '
                      f'one of {losses.SMOOTHABLE} (D\'s cross-entropy has the label to smooth); '
                      'set --config.label_smoothing.')
  if not 0 <= config.get('dcgan', {}).get('d_dropout', 0.0) < 1:
    raise ConfigError('dcgan.d_dropout must be in [0, 1); set --config.dcgan.d_dropout.')
  if config.loss == 'wasserstein' and not gp_lambda and d_norm != 'spectral':
    logging.warning('loss=wasserstein without a gradient penalty or spectral norm: nothing '
                    'keeps the critic Lipschitz, and its outputs can grow without bound.')
  policy = config.get('augment', '')
  unknown = [p for p in policy.split(',') if p.strip() and p.strip() not in augment.POLICIES]
  if unknown:
    raise ConfigError(f'Unknown augment policies {unknown}; set --config.augment to a '
                      f'comma-separated subset of {list(augment.POLICIES)} (or \'\' for none).')
  if 'ema' in config and not 0 <= config.ema.decay < 1:
    raise ConfigError(f'ema.decay={config.ema.decay} must be in [0, 1) (0 = off); set '
                      '--config.ema.decay.')


def validate_eval(config: ml_collections.ConfigDict) -> None:
  """config.eval, which the loop first reads at its first evaluation (thousands of steps in)."""
  ev = config.get('eval')
  if not ev:
    return
  if ev.every_steps < 0:
    raise ConfigError(f'eval.every_steps={ev.every_steps} must be >= 0 (0 = off); '
                      'set --config.eval.every_steps.')
  if not ev.every_steps:
    return
  if ev.num_samples <= 0:
    raise ConfigError(f'eval.num_samples={ev.num_samples} must be positive; '
                      'set --config.eval.num_samples.')
  try:
    metrics = evaluation.parse_metrics(ev.metrics)
  except ConfigError as e:
    raise ConfigError(f'eval.metrics={ev.metrics!r}: {e} Set --config.eval.metrics.') from None
  best = ev.get('best_metric') or ''
  if best and best not in evaluation.BEST_METRICS:
    raise ConfigError(f'Unknown eval.best_metric {best!r}; set --config.eval.best_metric to one '
                      f'of {sorted(evaluation.BEST_METRICS)} (lower is better), or \'\' for none.')
  if best and evaluation.BEST_METRICS[best] not in metrics:
    # A warning, not an error: such configs train and evaluate fine, they keep no best step.
    logging.warning('eval.best_metric=%r is not computed by eval.metrics=%r: no best step will '
                    'be recorded.', best, ev.metrics)
  if best == 'fid' and ev.num_samples < inception.FEATURE_DIM:
    # Its bias depends on the sample count and shrinks as training improves, so a "best" FID on
    # few samples can pick the wrong step; KID is unbiased at any count.
    raise ConfigError(f'eval.best_metric=fid on eval.num_samples={ev.num_samples} (< '
                      f'{inception.FEATURE_DIM}) is a biased FID; set '
                      f'--config.eval.best_metric=kid or '
                      f'--config.eval.num_samples>={inception.FEATURE_DIM}.')
  if 'inception' in metrics:
    try:
      data_dir.find(inception.WEIGHTS_FILE)  # Where fid.extract_features will look.
    except data_dir.DataUnavailableError as e:
      raise ConfigError(f'eval.metrics asks for inception: {e} Or drop inception from '
                        '--config.eval.metrics.') from None


def validate_data(config, data) -> int:
  """The number of classes a conditional model uses (0 if unconditional), checked on the data."""
  if config.get('clusters'):  # Labels of its own (clusters.relabel).
    return config.clusters
  if not config.conditional:
    return 0
  if data.get('label') is None or not data.get('num_classes'):
    raise ConfigError(f'A conditional model needs labels; {config.dataset.name!r} has none. '
                      'Set --config.conditional=False or a dataset with labels.')
  wanted = config.get('num_classes', 0)
  if wanted and wanted != data['num_classes']:
    raise ConfigError(f'config.num_classes={wanted} but {config.dataset.name!r} has '
                      f'{data["num_classes"]} classes; set --config.num_classes='
                      f'{data["num_classes"]} (or 0 to take the dataset\'s).')
  return data['num_classes']


def check_workdir(workdir: str) -> None:
  """Creates `workdir` and proves it writable, before any data or compilation time is spent."""
  try:
    os.makedirs(workdir, exist_ok=True)
    probe = os.path.join(workdir, f'.write_test.{jax.process_index()}')
    with open(probe, 'w') as f:
      f.write('ok')
    os.remove(probe)
  except OSError as e:
    raise ConfigError(f'Workdir {workdir!r} is not writable ({e.strerror}); '
                      'choose another --workdir or fix its permissions.') from None
