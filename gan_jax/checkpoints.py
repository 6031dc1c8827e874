"""A workdir's state on disk: the initial state, its fingerprint, checkpoints and config.json.

The trainer saves and resumes through this module; `gan_jax.evaluate` and `gan_jax.sample` read
a workdir back through `load_workdir`. It imports neither the trainer nor the tools.
"""
import hashlib
import json
import os
import shutil
from typing import Any, Dict, Optional

from absl import logging
import flax
import jax
from jax.experimental import multihost_utils
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from gan_jax import ema
from gan_jax import errors
from gan_jax import input_pipeline
from gan_jax import models
from gan_jax import optimizers
from gan_jax import steps
from gan_jax import validation
from gan_jax.models.layers import AXIS


class QuietOrbax(logging.logging.Filter):
  """Orbax logs every save step by step at INFO; keep its warnings, drop the chatter."""

  def filter(self, record):
    return record.levelno >= logging.logging.WARNING or '/orbax/' not in record.pathname


def create_train_state(config, *, data_shape, num_classes: int,
                       axis_name: Optional[str] = AXIS, label_probs=None) -> steps.GANState:
  """The initial state of `config`'s models; `axis_name` is the device axis the steps run over
  (None for a single device, evaluation and the latent tools). `label_probs`: the clusters'
  shares (`clusters.relabel`) when `config.clusters`; None: a uniform placeholder of their
  shape, which a checkpoint's restore fills in."""
  generator, discriminator = models.create_models(
      config, data_shape=data_shape, num_classes=num_classes, axis_name=axis_name)
  return steps.create_state(
      generator=generator, discriminator=discriminator,
      g_tx=optimizers.make_optimizer(config.optim, config.optim.g_lr,
                                     num_train_steps=config.num_train_steps),
      d_tx=optimizers.make_optimizer(config.optim, config.optim.d_lr,
                                     num_train_steps=config.num_train_steps,
                                     updates_per_step=config.num_d_steps),
      data_shape=data_shape, rng=jax.random.PRNGKey(config.seed),
      latent_dim=config.latent_dim, prior=config.prior, num_classes=num_classes,
      ema=ema.of_config(config).on,
      label_probs=((np.full(num_classes, 1 / num_classes) if label_probs is None else label_probs)
                   if config.get('clusters') else None))


def _shapes_sha1(tree) -> str:
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  desc = ';'.join(f'{jax.tree_util.keystr(p)}:{tuple(np.shape(x))}' for p, x in leaves)
  return hashlib.sha1(desc.encode()).hexdigest()


def architecture(config, state: steps.GANState) -> Dict[str, Any]:
  """What a checkpoint must match: model name, the prior G was trained on, every parameter's
  path and shape, and the optimisers' state layout (which optim.name and optim.decay_steps
  change: a schedule adds a step counter)."""
  return {'model': config.model, 'conditional': bool(config.conditional),
          'clusters': int(config.get('clusters', 0)),
          'num_classes': state.num_classes, 'latent_dim': state.latent_dim,
          'prior': state.prior,
          'param_shapes_sha1': _shapes_sha1({'g': state.g_params, 'd': state.d_params}),
          'opt_state_sha1': _shapes_sha1({'g': state.g_opt_state, 'd': state.d_opt_state})}


def checkpoint_manager(workdir: str, config) -> ocp.CheckpointManager:
  # Orbax writes each step into a temporary directory and renames it when complete; a run killed
  # mid-write leaves that temporary directory behind, which cleanup_tmp_directories removes.
  return ocp.CheckpointManager(
      os.path.join(os.path.abspath(workdir), 'checkpoints'),
      options=ocp.CheckpointManagerOptions(max_to_keep=config.keep_checkpoints, create=True,
                                           cleanup_tmp_directories=True),
      item_names=('state', 'meta'))


def check_finite_state(state: steps.GANState) -> None:
  """Raises FloatingPointError naming the step and the first NaN/Inf leaf of `state` (host)."""
  leaves = jax.tree_util.tree_flatten_with_path(flax.serialization.to_state_dict(state))[0]
  for path, x in leaves:
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
      raise FloatingPointError(
          f'{jax.tree_util.keystr(path)} is not finite at step {int(state.step)}: training '
          'diverged, and the state is not saved. Lower the learning rates or check the data.')


def save_checkpoint(mngr: ocp.CheckpointManager, state: steps.GANState, meta) -> None:
  """Saves `state` (host numpy, the same on every process); all processes must call it.

  A diverged state is never saved (FloatingPointError), so a resume cannot pick it up. Orbax
  writes replicated host arrays from process 0 only, and the other processes wait for it.
  """
  check_finite_state(state)
  step = int(state.step)
  logging.info('Saving checkpoint at step %d', step)
  mngr.save(step, args=ocp.args.Composite(
      state=ocp.args.StandardSave(flax.serialization.to_state_dict(state)),
      meta=ocp.args.JsonSave(meta)))


def _set_aside(mngr: ocp.CheckpointManager, step: int) -> str:
  """Moves an unreadable checkpoint out of orbax's sight (process 0), so no save reuses its step."""
  src = os.path.join(str(mngr.directory), str(step))
  dst = os.path.join(os.path.dirname(str(mngr.directory)), 'checkpoints_unreadable', str(step))
  if jax.process_index() == 0:
    if os.path.exists(dst):
      shutil.rmtree(dst)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    os.replace(src, dst)
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(f'gan_jax_set_aside_{step}')
  mngr.reload()
  return dst


def _same_architecture(saved, meta) -> bool:
  saved = {k: v for k, v in saved.items() if k != 'best'}
  # Checkpoints written before the prior or the optimiser layout joined the fingerprint lack them.
  for key in ('prior', 'opt_state_sha1'):
    saved.setdefault(key, meta.get(key))
  saved.setdefault('clusters', 0)
  return saved == meta


def _restore_state(mngr: ocp.CheckpointManager, step: int, target):
  """The saved state of `step` in `target`'s structure.

  Fields that joined the state later are absent from older checkpoints: those restore without
  them. Without label_probs G drew uniform labels, as the empty default does; without
  g_ema_params a run that now keeps an average starts it from the restored G.
  """
  restore = lambda t: mngr.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(t)))['state']
  # Runs on clusters (label_probs set) came later than both: theirs must restore in full.
  later = [('label_probs',), ('label_probs', 'g_ema_params')]
  error = None
  for missing in [()] + [m for m in later if all(
      k in target for k in m) and isinstance(target['label_probs'], dict)]:
    try:
      restored = restore({k: v for k, v in target.items() if k not in missing})
    except Exception as e:  # pylint: disable=broad-except
      error = error or e
      continue
    if 'label_probs' in missing:
      restored['label_probs'] = target['label_probs']
    if 'g_ema_params' in missing:
      restored['g_ema_params'] = restored['g_params'] if target['g_ema_params'] else {}
      logging.info('Checkpoint %d has no EMA of G; %s.', step, 'starting it from the restored '
                   'G' if target['g_ema_params'] else 'none is kept')
    return restored
  raise error


def restore_checkpoint(mngr: ocp.CheckpointManager, state: steps.GANState,
                       meta, *, step: Optional[int] = None) -> steps.GANState:
  """The latest readable checkpoint into `state`'s structure, or `state` when there is none.

  Unreadable checkpoints (a truncated or corrupt file) newer than a readable one are moved to
  checkpoints_unreadable/ with a warning naming them; if checkpoints exist but none can be read,
  this raises rather than silently training from scratch. All processes must call it.
  `step` restores that step only (for evaluation), raising if it is missing or unreadable.
  """
  target = flax.serialization.to_state_dict(state)
  unreadable = []  # (step, error), newest first.
  if step is not None and step not in mngr.all_steps():
    raise errors.WorkdirError(f'No checkpoint of step {step} in {mngr.directory}; '
                              f'it has {sorted(mngr.all_steps())}.')
  for step in [step] if step is not None else sorted(mngr.all_steps(), reverse=True):
    try:
      saved = mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))['meta']
    except Exception as e:  # pylint: disable=broad-except  (orbax/tensorstore raise many types)
      unreadable.append((step, e))
      continue
    if not _same_architecture(saved, meta):
      only_opt = _same_architecture({**saved, 'opt_state_sha1': meta['opt_state_sha1']}, meta)
      what = ('the same nets with another optimiser state layout (optim.name or '
              'optim.decay_steps differ)' if only_opt else 'another architecture')
      raise errors.ArchitectureMismatchError(
          f'{mngr.directory} holds a checkpoint (step {step}) of {what}: saved '
          f'{saved}, this config builds {meta}. Use a new --workdir or the config that wrote it.')
    try:
      restored = _restore_state(mngr, step, target)
    except Exception as e:  # pylint: disable=broad-except
      unreadable.append((step, e))
      continue
    for bad, error in unreadable:
      first = (str(error).strip().splitlines() or [''])[0][:200]
      logging.warning('Checkpoint %s/%d is unreadable (%s: %s); moved it to %s and resumed from '
                      'step %d instead.', mngr.directory, bad, type(error).__name__, first,
                      _set_aside(mngr, bad), step)
    logging.info('Resumed from %s at step %d', mngr.directory, step)
    return flax.serialization.from_state_dict(state, restored)
  if unreadable:
    raise errors.CheckpointError(
        f'No checkpoint in {mngr.directory} can be read (steps {[s for s, _ in unreadable]}; '
        f'newest: {type(unreadable[0][1]).__name__}). Refusing to start from scratch: move them '
        'away, or use a new --workdir.')
  return state


def saved_best(mngr: ocp.CheckpointManager) -> Optional[Dict[str, Any]]:
  """The best evaluation so far ({'metric', 'value', 'step'}) from the latest checkpoint's meta."""
  if mngr.latest_step() is None:
    return None
  meta = mngr.restore(mngr.latest_step(), args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
  return meta['meta'].get('best')


def write_config(workdir: str, config, step: int) -> None:
  """config.json: the config of the latest start, which evaluate and sample read (process 0).

  A start that changes it also leaves config.<step>.json beside it, so every config a workdir
  was trained under stays readable (the first start writes config.0.json).
  """
  if jax.process_index() != 0:
    return
  text = config.to_json_best_effort(indent=2)
  path = os.path.join(workdir, 'config.json')
  if os.path.exists(path):
    with open(path) as f:
      previous = f.read()
    if json.loads(previous) == json.loads(text):
      return
    first = os.path.join(workdir, 'config.0.json')
    if not os.path.exists(first):  # A workdir from before config.<step>.json: its first config.
      with open(first, 'w') as f:
        f.write(previous)
  for name in (f'config.{step}.json', 'config.json'):
    with open(os.path.join(workdir, name + '.tmp'), 'w') as f:
      f.write(text)
    os.replace(os.path.join(workdir, name + '.tmp'), os.path.join(workdir, name))  # Atomic.


def load_workdir(workdir: str, *, step: Optional[int] = None, use_ema: bool = True):
  """(config, state) of a training workdir: its config.json and a checkpoint (default the
  latest), on the host and unreplicated, for evaluation and the latent tools. The state's G is
  the one that samples (ema.sampling_state): the EMA generator when the run keeps one and
  `use_ema`, else the raw one."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise errors.WorkdirError(f'{path} not found: the trainer writes it at the start of a run; '
                              'is --workdir a training workdir?')
  with open(path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  data = input_pipeline.load_split(config.dataset, image_size=config.get('image_size') or None)
  state = create_train_state(config, data_shape=data['image'].shape[1:],
                             num_classes=validation.validate_data(config, data), axis_name=None)
  mngr = checkpoint_manager(workdir, config)
  if mngr.latest_step() is None:
    raise errors.WorkdirError(f'No checkpoint in {workdir}/checkpoints: train first, or pass '
                              'the --workdir of a run that saved one.')
  state = restore_checkpoint(mngr, state, architecture(config, state), step=step)
  return config, ema.sampling_state(state, use_ema=use_ema)
