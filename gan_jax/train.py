"""The training loop: data, steps over all devices, logs, sample grids, checkpoints, resume.

The loop owns the host-side work only; the maths is in `steps.py`. One compiled step is called
per iteration; metrics stay on device until a log step fetches them all at once.
"""
import collections
import functools
import hashlib
import json
import os
import shutil
import signal
import time
from typing import Any, Dict, Optional

from absl import logging
from clu import metric_writers
from clu import periodic_actions
import flax
import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from gan_jax import evaluate
from gan_jax import images
from gan_jax import input_pipeline
from gan_jax import losses
from gan_jax import models
from gan_jax import steps

AXIS = 'batch'


class ConfigError(ValueError):
  """A setting, or its combination with the data or the workdir, that cannot run.

  main.py reports these as one line and exits non-zero; anything else stays a traceback.
  """


class ArchitectureMismatchError(ConfigError):
  """The workdir holds a checkpoint of a different architecture than the config builds."""


class CheckpointError(RuntimeError):
  """Checkpoints exist in the workdir but none of them can be read."""


class QuietOrbax(logging.logging.Filter):
  """Orbax logs every save step by step at INFO; keep its warnings, drop the chatter."""

  def filter(self, record):
    return record.levelno >= logging.logging.WARNING or '/orbax/' not in record.pathname


def validate_config(config: ml_collections.ConfigDict) -> None:
  """Fails fast, before data or compilation, on settings that cannot run."""
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
  if 'top_k' in config:
    t = config.top_k
    if not (0 < t.min_fraction <= 1 and 0 < t.decay <= 1 and t.decay_every > 0):
      raise ConfigError(f'top_k={t.to_dict()} needs 0 < min_fraction <= 1, 0 < decay <= 1 and '
                        'decay_every > 0; set --config.top_k.*.')
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
  choices = {'model': sorted(models.MODELS), 'loss': sorted(losses.GENERATOR_LOSSES),
             'parallel': ['pmap', 'shard_map'], 'prior': ['normal', 'uniform'],
             'optim.name': ['adam', 'sgd']}
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


def validate_data(config, data) -> int:
  """The number of classes a conditional model uses (0 if unconditional), checked on the data."""
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


def create_train_state(config, *, data_shape, num_classes: int,
                       axis_name: Optional[str] = AXIS) -> steps.GANState:
  generator, discriminator = models.create_models(
      config, data_shape=data_shape, num_classes=num_classes, axis_name=axis_name)
  return steps.create_state(
      generator=generator, discriminator=discriminator,
      g_tx=steps.make_optimizer(config.optim, config.optim.g_lr),
      d_tx=steps.make_optimizer(config.optim, config.optim.d_lr),
      data_shape=data_shape, rng=jax.random.PRNGKey(config.seed),
      latent_dim=config.latent_dim, prior=config.prior, num_classes=num_classes)


def architecture(config, state: steps.GANState) -> Dict[str, Any]:
  """What a checkpoint must match: model name and every parameter's path and shape."""
  shapes = jax.tree_util.tree_flatten_with_path(
      {'g': state.g_params, 'd': state.d_params})[0]
  desc = ';'.join(f'{jax.tree_util.keystr(p)}:{tuple(np.shape(x))}' for p, x in shapes)
  return {'model': config.model, 'conditional': bool(config.conditional),
          'num_classes': state.num_classes, 'latent_dim': state.latent_dim,
          'param_shapes_sha1': hashlib.sha1(desc.encode()).hexdigest()}


def checkpoint_manager(workdir: str, config) -> ocp.CheckpointManager:
  # Orbax writes each step into a temporary directory and renames it when complete; a run killed
  # mid-write leaves that temporary directory behind, which cleanup_tmp_directories removes.
  return ocp.CheckpointManager(
      os.path.join(os.path.abspath(workdir), 'checkpoints'),
      options=ocp.CheckpointManagerOptions(max_to_keep=config.keep_checkpoints, create=True,
                                           cleanup_tmp_directories=True),
      item_names=('state', 'meta'))


def save_checkpoint(mngr: ocp.CheckpointManager, state: steps.GANState, meta) -> None:
  """Saves `state` (host numpy, the same on every process); all processes must call it.

  Orbax writes replicated host arrays from process 0 only, and the other processes wait for it.
  """
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
    raise FileNotFoundError(f'No checkpoint of step {step} in {mngr.directory}; '
                            f'it has {sorted(mngr.all_steps())}.')
  for step in [step] if step is not None else sorted(mngr.all_steps(), reverse=True):
    try:
      saved = mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))['meta']
    except Exception as e:  # pylint: disable=broad-except  (orbax/tensorstore raise many types)
      unreadable.append((step, e))
      continue
    if {k: v for k, v in saved.items() if k != 'best'} != meta:
      raise ArchitectureMismatchError(
          f'{mngr.directory} holds a checkpoint (step {step}) of another architecture: saved '
          f'{saved}, this config builds {meta}. Use a new --workdir or the config that wrote it.')
    try:
      restored = mngr.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(target)))['state']
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
    raise CheckpointError(
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


def load_workdir(workdir: str, *, step: Optional[int] = None):
  """(config, state) of a training workdir: its config.json and a checkpoint (default the
  latest), on the host and unreplicated, for evaluation and the latent tools."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path} not found: the trainer writes it at the start of a run.')
  with open(path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  data = input_pipeline.load_split(config.dataset, image_size=config.get('image_size') or None)
  state = create_train_state(config, data_shape=data['image'].shape[1:],
                             num_classes=validate_data(config, data), axis_name=None)
  mngr = checkpoint_manager(workdir, config)
  if mngr.latest_step() is None:
    raise FileNotFoundError(f'No checkpoint in {workdir}/checkpoints.')
  return config, restore_checkpoint(mngr, state, architecture(config, state), step=step)


def parallelize(config, devices=None):
  """The per-replica step over `devices` under pmap or shard_map, compiled once.

  Returns (step_fn, put_state, put_batch): put_state places an unreplicated state, put_batch a
  host batch (k, B_process, ...) as the step expects them.
  """
  per_call = config.get('steps_per_call', 1)
  if per_call == 1:
    step_fn = steps.make_train_step(config, axis_name=AXIS)
  else:  # Host batches gain a leading (steps_per_call,) axis and metrics come back stacked.
    step_fn = steps.make_multi_step(config, per_call, axis_name=AXIS)
  batch_axis = 1 if per_call == 1 else 2  # (k, B, ...) or (steps_per_call, k, B, ...).
  if config.parallel == 'pmap':
    # devices=None: the axis spans the devices of all processes, each process feeding its local
    # ones. Given devices (tests on one process) restrict it; local devices alone would leave
    # every process averaging over its own devices only.
    local = devices or jax.local_devices()
    n = len(local)
    fn = jax.pmap(step_fn, axis_name=AXIS, devices=devices, donate_argnums=(0,))
    split = lambda x: np.moveaxis(  # B -> (n, B / n), devices first.
        x.reshape(*x.shape[:batch_axis], n, -1, *x.shape[batch_axis + 1:]), batch_axis, 0)
    return (fn, lambda s: flax.jax_utils.replicate(s, local),
            lambda b: jax.tree.map(split, b))
  mesh = jax.sharding.Mesh(np.array(devices or jax.devices()), (AXIS,))
  P = jax.sharding.PartitionSpec
  # check_vma=False keeps pmap's meaning of per-replica code: grad w.r.t. replicated params is
  # this device's gradient, averaged by the step's own pmean. With the check on, shard_map
  # would already sum it over devices and the pmean would leave an n-times larger gradient.
  batch_spec = P(*[None] * batch_axis, AXIS)
  fn = jax.jit(jax.shard_map(step_fn, mesh=mesh, in_specs=(P(), batch_spec),
                             out_specs=(P(), P()), check_vma=False), donate_argnums=(0,))
  state_sharding = jax.sharding.NamedSharding(mesh, P())
  batch_sharding = jax.sharding.NamedSharding(mesh, batch_spec)
  # From host values that every process holds: no device-to-device copy across hosts.
  put_state = lambda s: jax.tree.map(
      lambda x: jax.make_array_from_callback(np.shape(x), state_sharding,
                                             lambda idx: np.asarray(x)[idx]),
      jax.device_get(s))
  return (fn, put_state,
          lambda b: jax.tree.map(
              lambda x: jax.make_array_from_process_local_data(batch_sharding, x), b))


def host_batches(config, data, start_step: int):
  """Yields this process's batches for the train steps from start_step on, one per call:
  (k, B_process, ...), or (steps_per_call, k, B_process, ...) when steps_per_call > 1."""
  k, per_call = config.num_d_steps, config.get('steps_per_call', 1)
  stack = lambda subs: jax.tree.map(lambda *xs: np.stack(xs), *subs)
  step = start_step
  while True:
    calls = [stack([input_pipeline.get_batch(data, batch_size=config.batch_size,
                                             batch_index=s * k + i, seed=config.seed)
                    for i in range(k)])
             for s in range(step, step + per_call)]
    yield calls[0] if per_call == 1 else stack(calls)
    step += per_call


def _ahead(iterator, size: int):
  """Yields iterator's items while keeping `size - 1` more already produced."""
  queue = collections.deque()
  for item in iterator:
    queue.append(item)
    if len(queue) == size:
      yield queue.popleft()
  yield from queue


def device_batches(config, batches, put_batch, size: int = 2):
  """Puts host batches on the devices `size - 1` steps ahead, so the step never waits on a copy
  (transfers are asynchronous: the next batch moves while the current step computes)."""
  if config.parallel == 'pmap':
    return flax.jax_utils.prefetch_to_device(map(put_batch, batches), size)
  return _ahead(map(put_batch, batches), size)


def first_replica(config, x):
  """One replica of a replicated step output, as host numpy, on any number of processes.

  With several processes the outputs span devices this process cannot read; every replica holds
  the same values (the step averages across all devices), so the first local one is the value.
  """
  if not isinstance(x, jax.Array):
    return np.asarray(x)[0] if config.parallel == 'pmap' else np.asarray(x)
  shape = x.shape[1:] if config.parallel == 'pmap' else x.shape
  return np.asarray(x.addressable_data(0)).reshape(shape)


def unreplicate(config, state):
  return jax.tree.map(functools.partial(first_replica, config), state)


def sample_grid(config, state: steps.GANState, sample_fn, z, labels) -> np.ndarray:
  samples = jax.device_get(sample_fn(state.g_params, state.g_batch_stats, z, labels))
  return images.make_grid(samples, nrow=config.sample_grid_size)


def fixed_latents(config, state: steps.GANState):
  """The latent batch every sample grid uses, so grids over training are comparable."""
  n = config.sample_grid_size
  rng = jax.random.fold_in(jax.random.PRNGKey(config.seed), 0x5A4D)  # Not the training stream.
  if state.num_classes:  # One row per class, the same z down each column.
    z = steps.sample_latent(rng, n, state.latent_dim, state.prior)
    rows = min(state.num_classes, n)
    return jnp.tile(z, (rows, 1)), jnp.repeat(jnp.arange(rows), n)
  return steps.sample_latent(rng, n * n, state.latent_dim, state.prior), None


def _console_line(step, total, m, steps_per_sec):
  eta = (total - step) / max(steps_per_sec, 1e-9)
  return (f'step {step}/{total}  d_loss {m["d_loss"]:.3f}  g_loss {m["g_loss"]:.3f}  '
          f'D(x) {m["d_real"]:.3f}  D(G(z)) {m["d_fake"]:.3f}  '
          f'acc real/fake {m["d_real_acc"]:.2f}/{m["d_fake_acc"]:.2f}  '
          f'{steps_per_sec:.2f} steps/s  ETA {eta / 60:.1f} min')


def check_finite(first_step: int, history) -> None:
  """Raises on the first NaN/Inf metric, naming the step and the metric."""
  for i, metrics in enumerate(history):
    for name, value in metrics.items():
      if not np.all(np.isfinite(value)):
        raise FloatingPointError(f'{name} is {value} at step {first_step + i}: training '
                                 'diverged. Lower the learning rates or check the data.')


def stop_agreed(config, stop, step: int) -> bool:
  """Whether every process stops after `step` because one of them got SIGTERM.

  Alone, a process stops at once. With several, each must leave the collective steps at the same
  step, so they compare their flags at log steps only (a host sync they pay there anyway).
  """
  if jax.process_count() == 1:
    return stop['requested']
  if step % config.log_every_steps:
    return False
  flags = multihost_utils.process_allgather(np.int32(stop['requested']))
  return bool(np.any(flags))


def write_metrics_json(workdir: str, step: int, scalars: Dict[str, float]) -> None:
  """The last logged scalars in workdir/metrics.json (process 0), for sweeps to read cheaply."""
  if jax.process_index() != 0:
    return
  path = os.path.join(workdir, 'metrics.json')
  with open(path + '.tmp', 'w') as f:
    json.dump({'step': step, **scalars}, f)
  os.replace(path + '.tmp', path)  # Atomic: a reader never sees half a file.


def evaluate_during_training(config, workdir: str, state: steps.GANState, best):
  """Runs config.eval's metrics on host `state`, writes them, returns the updated best."""
  step = int(state.step)
  metrics = evaluate.parse_metrics(config.eval.metrics)
  results = evaluate.evaluate(config, state, num_samples=config.eval.num_samples,
                              metrics=metrics, seed=config.seed, progress=False)
  evaluate.write_results(workdir, step, results, evaluate.protocol(
      config, num_samples=config.eval.num_samples, seed=config.seed, metrics=metrics))
  logging.info('eval at step %d: %s', step, ', '.join(
      f'{k} {v:.4g}' for k, v in results.items() if isinstance(v, float)))
  value = results.get(config.eval.best_metric)
  if value is not None and (best is None or value < best['value']):
    best = {'metric': config.eval.best_metric, 'value': value, 'step': step}
  return best


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> steps.GANState:
  """Trains `config` in `workdir`, resuming from its latest checkpoint. Returns the state."""
  validate_config(config)
  check_workdir(workdir)
  if jax.process_index() == 0 and not os.path.exists(os.path.join(workdir, 'config.json')):
    with open(os.path.join(workdir, 'config.json'), 'w') as f:  # Read by gan_jax.sample.
      f.write(config.to_json_best_effort(indent=2))
  data = input_pipeline.load_split(config.dataset, image_size=config.image_size)
  num_classes = validate_data(config, data)
  data_shape = data['image'].shape[1:]
  state = create_train_state(config, data_shape=data_shape, num_classes=num_classes)
  count = lambda tree: sum(int(np.size(x)) for x in jax.tree.leaves(tree))
  logging.info('G params: %d', count(state.g_params))
  logging.info('D params: %d', count(state.d_params))

  meta = architecture(config, state)
  mngr = checkpoint_manager(workdir, config)
  state = restore_checkpoint(mngr, state, meta)
  start_step = int(state.step)
  best = saved_best(mngr)  # The best evaluation so far lives in the checkpoint's metadata.

  writer = metric_writers.create_default_writer(workdir,
                                                just_logging=jax.process_index() > 0)
  if start_step == 0:
    writer.write_hparams(dict(config.flatten()) if hasattr(config, 'flatten') else {})
  train_fn, put_state, put_batch = parallelize(config)
  sample_fn = jax.jit(lambda p, s, z, y: steps.generate(
      state.replace(g_params=p, g_batch_stats=s), z, y)[0])
  z_fixed, labels_fixed = fixed_latents(config, state)
  is_image = len(data_shape) == 3

  # SIGTERM (preemption) saves a checkpoint at the current step, then the loop ends cleanly.
  stop = {'requested': False}
  previous_handler = signal.signal(signal.SIGTERM,
                                   lambda *_: stop.__setitem__('requested', True))
  report = periodic_actions.ReportProgress(num_train_steps=config.num_train_steps,
                                           writer=writer, every_secs=None,
                                           every_steps=config.log_every_steps)
  batches = device_batches(config, host_batches(config, data, start_step), put_batch)
  pstate = put_state(state)
  per_call = config.get('steps_per_call', 1)
  if start_step % per_call:
    raise ConfigError(f'The checkpoint in {workdir} is at step {start_step}, not a multiple of '
                      f'steps_per_call={per_call}; resume with a divisor of {start_step}.')
  history, t_log, step_log, step = [], time.time(), start_step, start_step
  try:
    while step < config.num_train_steps:
      pstate, metrics = train_fn(pstate, next(batches))
      history.append(metrics)
      step += per_call
      if step == start_step + per_call:  # Keep compilation out of the steps/s figure.
        jax.block_until_ready(metrics)
        t_log, step_log = time.time(), step
      for done in range(step - per_call + 1, step + 1):  # clu wants every step.
        report(done)
      stopping = stop_agreed(config, stop, step)  # Read once: a later signal waits a step.
      last = step == config.num_train_steps or stopping
      if step % config.log_every_steps == 0 or last:
        fetched = [jax.tree.map(lambda x: first_replica(config, x), m) for m in history]
        if per_call > 1:  # One dict per train step, from each call's stacked metrics.
          fetched = [{k: v[i] for k, v in m.items()} for m in fetched for i in range(per_call)]
        check_finite(step - len(history) + 1, fetched)
        mean = {k: float(np.mean([m[k] for m in fetched])) for k in fetched[0]}
        writer.write_scalars(step, mean)
        write_metrics_json(workdir, step, mean)
        now = time.time()
        logging.info(_console_line(step, config.num_train_steps, mean,
                                   (step - step_log) / max(now - t_log, 1e-9)))
        history, t_log, step_log = [], now, step
      if is_image and (step % config.sample_every_steps == 0 or last):
        state = unreplicate(config, pstate)
        grid = sample_grid(config, state, sample_fn, z_fixed, labels_fixed)
        if jax.process_index() == 0:
          images.save_png(os.path.join(workdir, 'samples', f'step_{step:07d}.png'), grid)
        writer.write_images(step, {'samples': grid[None]})
      if is_image and config.eval.every_steps and (
          step % config.eval.every_steps == 0 or step == config.num_train_steps):
        best = evaluate_during_training(config, workdir, jax.device_get(
            unreplicate(config, pstate)), best)
      if step % config.checkpoint_every_steps == 0 or last:
        save_checkpoint(mngr, jax.device_get(unreplicate(config, pstate)),
                        {**meta, 'best': best} if best else meta)
      if stopping:
        logging.warning('SIGTERM: saved a checkpoint at step %d; exiting.', step)
        break
  finally:
    mngr.wait_until_finished()
    writer.flush()
    signal.signal(signal.SIGTERM, previous_handler)
  return jax.device_get(unreplicate(config, pstate))
