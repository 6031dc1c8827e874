"""The training loop: data, steps over all devices, logs, sample grids, checkpoints, resume.

The loop owns the host-side work only: the maths is in `steps.py`, the settings' checks in
`validation.py`, the workdir's checkpoints and config.json in `checkpoints.py`. One compiled step
is called per iteration; metrics stay on device until a log step fetches them all at once.
"""
import collections
import functools
import json
import os
import signal
import time
from typing import Any, Dict

from absl import logging
import flax
import jax
from jax.experimental import multihost_utils
import ml_collections
import numpy as np

from gan_jax import checkpoints
from gan_jax import clusters
from gan_jax import ema
from gan_jax import errors
from gan_jax import evaluate
from gan_jax import evaluation
from gan_jax import images
from gan_jax import input_pipeline
from gan_jax import losses
from gan_jax import multi_step
from gan_jax import steps
from gan_jax import summary
from gan_jax import validation
from gan_jax import xla_cpu
from gan_jax.models.layers import AXIS


def _built_for(state, axis_name):
  """The state with its models built for the step's device axis (the step checks it)."""
  clone = lambda m: m.clone(axis_name=axis_name) if hasattr(m, 'axis_name') else m  # noqa: E731
  return state.replace(generator=clone(state.generator),
                       discriminator=clone(state.discriminator))


def parallelize(config, devices=None, regularize: bool = True):
  """The per-replica step over `devices` under pmap or shard_map, compiled once.

  Returns (step_fn, put_state, put_batch): put_state places an unreplicated state, put_batch a
  host batch (k, B_process, ...) as the step expects them. `regularize`: see
  steps.make_train_step (lazy R1).
  """
  per_call = config.get('steps_per_call', 1)
  # On one device the step runs without its collectives, each of which is the identity there:
  # XLA:CPU keeps a one-replica all-reduce as an op between fusions, and the 28x28 DCGAN step at
  # batch 64 took 85.6 ms with the axis against 76.4 ms without (plain jit 76.9;
  # experiments/benchmarks/one_device_bench.py). tests/device_equivalence.py holds one device
  # equal to 2 and 8.
  axis = AXIS if (len(devices) if devices else jax.device_count()) > 1 else None
  if per_call == 1:
    step_fn = steps.make_train_step(config, axis_name=axis, regularize=regularize)
  else:  # Host batches gain a leading (steps_per_call,) axis and metrics come back stacked.
    step_fn = multi_step.make_multi_step(config, per_call, axis_name=axis)
  batch_axis = 1 if per_call == 1 else 2  # (k, B, ...) or (steps_per_call, k, B, ...).
  options = xla_cpu.step_options(config)  # XLA:CPU's own convolution kernels, on CPU.
  if config.parallel == 'pmap':
    # devices=None: the axis spans the devices of all processes, each process feeding its local
    # ones. Given devices (tests on one process) restrict it; local devices alone would leave
    # every process averaging over its own devices only.
    local = devices or jax.local_devices()
    n = len(local)
    fn = xla_cpu.compile_with(
        jax.pmap(step_fn, axis_name=AXIS, devices=devices, donate_argnums=(0,)), options)
    split = lambda x: np.moveaxis(  # B -> (n, B / n), devices first.
        x.reshape(*x.shape[:batch_axis], n, -1, *x.shape[batch_axis + 1:]), batch_axis, 0)
    # The state goes in through an identity pmap over the same axis, so that it has the sharding
    # of the step's own outputs: replicate() alone gives another mesh, and the second call would
    # compile the whole step a second time (19 s -> 2 x 19 s on the tiny test MLP).
    place = jax.pmap(lambda x: x, axis_name=AXIS, devices=devices)
    return (fn, lambda s: place(flax.jax_utils.replicate(_built_for(s, axis), local)),
            lambda b: jax.tree.map(split, b))
  mesh = jax.sharding.Mesh(np.array(devices or jax.devices()), (AXIS,))
  P = jax.sharding.PartitionSpec
  # check_vma=False keeps pmap's meaning of per-replica code: grad w.r.t. replicated params is
  # this device's gradient, averaged by the step's own pmean. With the check on, shard_map
  # would already sum it over devices and the pmean would leave an n-times larger gradient.
  batch_spec = P(*[None] * batch_axis, AXIS)
  fn = jax.jit(jax.shard_map(step_fn, mesh=mesh, in_specs=(P(), batch_spec),
                             out_specs=(P(), P()), check_vma=False), donate_argnums=(0,),
               compiler_options=options)
  state_sharding = jax.sharding.NamedSharding(mesh, P())
  batch_sharding = jax.sharding.NamedSharding(mesh, batch_spec)
  # From host values that every process holds: no device-to-device copy across hosts.
  put_state = lambda s: jax.tree.map(
      lambda x: jax.make_array_from_callback(np.shape(x), state_sharding,
                                             lambda idx: np.asarray(x)[idx]),
      jax.device_get(_built_for(s, axis)))
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


def _console_line(step, total, m, steps_per_sec):
  eta = (total - step) / max(steps_per_sec, 1e-9)
  return (f'step {step}/{total}  d_loss {m["d_loss"]:.3f}  g_loss {m["g_loss"]:.3f}  '
          f'D(x) {m["d_real"]:.3f}  D(G(z)) {m["d_fake"]:.3f}  '
          f'acc real/fake {m["d_real_acc"]:.2f}/{m["d_fake_acc"]:.2f}  '
          # The mean logits' gap: D's lead where its output is no probability (hinge, WGAN, ...).
          f'gap {m["d_gap"]:.2f}  '
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


def hparams(config: ml_collections.ConfigDict) -> Dict[str, Any]:
  """The config as TensorBoard hparams: dotted names, values bool/int/float/str (tuples, lists
  and None as their str, which is all the hparams plugin takes)."""
  flat = {}

  def visit(prefix, node):
    for key, value in node.items():
      if isinstance(value, dict):
        visit(f'{prefix}{key}.', value)
      else:
        flat[prefix + key] = value if isinstance(value, (bool, int, float, str)) else str(value)
  visit('', config.to_dict())
  return flat


def fetch_metrics(config, history) -> list:
  """The step outputs in `history` as host dicts, one per train step."""
  fetched = [jax.tree.map(lambda x: first_replica(config, x), m) for m in history]
  if config.get('steps_per_call', 1) > 1:  # One dict per train step from each call's stack.
    fetched = [{k: v[i] for k, v in m.items()} for m in fetched
               for i in range(config.steps_per_call)]
  return fetched


def evaluate_during_training(config, workdir: str, sampler: steps.GANState, best):
  """Runs config.eval's metrics on `sampler` (the run's sampling generator, `ema.sampling_state`:
  the EMA one when the run keeps one), writes them, returns the updated best.

  Every process computes the same numbers (the best step goes into every process's checkpoint
  metadata); process 0 alone writes and logs them.
  """
  step = int(sampler.step)
  metrics = evaluation.parse_metrics(config.eval.metrics)
  results = evaluate.evaluate(config, sampler,
                              num_samples=config.eval.num_samples, metrics=metrics,
                              seed=config.seed, progress=False)
  evaluate.write_results(workdir, step, results, evaluate.protocol(
      config, num_samples=config.eval.num_samples, seed=config.seed, metrics=metrics))
  if jax.process_index() == 0:
    logging.info('eval at step %d: %s', step, ', '.join(
        f'{k} {v:.4g}' for k, v in results.items() if isinstance(v, float)))
  value = results.get(config.eval.best_metric)
  if value is not None and (best is None or value < best['value']):
    best = {'metric': config.eval.best_metric, 'value': value, 'step': step}
  return best


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> steps.GANState:
  """Trains `config` in `workdir`, resuming from its latest checkpoint. Returns the state."""
  validation.validate_config(config)
  validation.check_workdir(workdir)
  data = input_pipeline.load_split(config.dataset, image_size=config.image_size)
  if config.get('clusters'):  # Its labels are the clusters of its images.
    data = clusters.relabel(data, config.clusters, seed=config.seed)
  num_classes = validation.validate_data(config, data)
  data_shape = data['image'].shape[1:]
  state = checkpoints.create_train_state(config, data_shape=data_shape, num_classes=num_classes,
                                         label_probs=data.get('label_probs'))
  if config.get('clusters'):
    logging.info('%d k-means clusters of the training images, shares %.4f to %.4f',
                 config.clusters, data['label_probs'].min(), data['label_probs'].max())
  count = lambda tree: sum(int(np.size(x)) for x in jax.tree.leaves(tree))
  logging.info('G params: %d', count(state.g_params))
  logging.info('D params: %d', count(state.d_params))

  meta = checkpoints.architecture(config, state)
  mngr = checkpoints.checkpoint_manager(workdir, config)
  state = checkpoints.restore_checkpoint(mngr, state, meta)  # Refuses another architecture.
  start_step = int(state.step)
  per_call = config.get('steps_per_call', 1)
  if start_step % per_call:
    raise errors.ConfigError(
        f'The checkpoint in {workdir} is at step {start_step}, not a multiple of '
        f'steps_per_call={per_call}; resume with a divisor of {start_step}.')
  checkpoints.write_config(workdir, config, start_step)  # What evaluate and sample will read.
  best = checkpoints.saved_best(mngr)  # The best evaluation so far lives in the checkpoint meta.

  writer = summary.SummaryWriter(workdir, enabled=jax.process_index() == 0)
  if start_step == 0:
    writer.write_hparams(hparams(config))
  train_fn, put_state, put_batch = parallelize(config)
  plain_fn = train_fn  # Lazy R1: the steps between the regularised ones (steps.make_train_step).
  r1_every = losses.r1_interval(config)
  if r1_every > 1:
    plain_fn = parallelize(config, regularize=False)[0]
  z_fixed, labels_fixed = images.fixed_latents(config, state)
  is_image = len(data_shape) == 3

  # SIGTERM (preemption) saves a checkpoint at the current step, then the loop ends cleanly.
  stop = {'requested': False}
  previous_handler = signal.signal(signal.SIGTERM,
                                   lambda *_: stop.__setitem__('requested', True))
  batches = device_batches(config, host_batches(config, data, start_step), put_batch)
  pstate = put_state(state)
  history, t_log, step_log, step = [], time.time(), start_step, start_step
  try:
    while step < config.num_train_steps:
      fn = train_fn if step % r1_every == 0 else plain_fn  # The step number decides: exact resume.
      pstate, metrics = fn(pstate, next(batches))
      history.append(metrics)
      step += per_call
      if step == start_step + per_call:  # Keep compilation out of the steps/s figure.
        jax.block_until_ready(metrics)
        t_log, step_log = time.time(), step
      stopping = stop_agreed(config, stop, step)  # Read once: a later signal waits a step.
      last = step == config.num_train_steps or stopping
      if step % config.log_every_steps == 0 or last:
        fetched = fetch_metrics(config, history)
        check_finite(step - len(fetched) + 1, fetched)
        mean = {k: float(np.mean([m[k] for m in fetched])) for k in fetched[0]}
        now = time.time()
        rate = (step - step_log) / max(now - t_log, 1e-9)
        writer.write_scalars(step, {**mean, 'steps_per_sec': rate})
        write_metrics_json(workdir, step, mean)
        logging.info(_console_line(step, config.num_train_steps, mean, rate))
        history, t_log, step_log = [], now, step
      # The sampling generator (for the EMA one, standing statistics from a 2,048-sample pass),
      # built once for a step that both samples a grid and evaluates.
      sampler = None
      if is_image and (step % config.sample_every_steps == 0 or last):
        sampler = ema.sampling_state(jax.device_get(unreplicate(config, pstate)))
        grid = images.sample_grid(config, sampler, z_fixed, labels_fixed)
        if jax.process_index() == 0:
          images.save_png(os.path.join(workdir, 'samples', f'step_{step:07d}.png'), grid)
        writer.write_images(step, {'samples': grid[None]})
      if is_image and config.eval.every_steps and (
          step % config.eval.every_steps == 0 or step == config.num_train_steps):
        if sampler is None:
          sampler = ema.sampling_state(jax.device_get(unreplicate(config, pstate)))
        best = evaluate_during_training(config, workdir, sampler, best)
      if step % config.checkpoint_every_steps == 0 or last:
        # Checkpoints keep their own cadence: the steps since the last log step are checked
        # here, and save_checkpoint checks the state, so a diverged run is never saved.
        if history:
          fetched = fetch_metrics(config, history)
          check_finite(step - len(fetched) + 1, fetched)
        checkpoints.save_checkpoint(mngr, jax.device_get(unreplicate(config, pstate)),
                                    {**meta, 'best': best} if best else meta)
      if stopping:
        logging.warning('SIGTERM: saved a checkpoint at step %d; exiting.', step)
        break
  finally:
    mngr.wait_until_finished()
    writer.close()
    signal.signal(signal.SIGTERM, previous_handler)
  return jax.device_get(unreplicate(config, pstate))
