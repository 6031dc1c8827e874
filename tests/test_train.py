"""The whole loop on real MNIST: outputs, exact resume, SIGTERM, and clear errors."""
import glob
import json
import os
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

from gan_jax import checkpoints
from gan_jax import data_dir
from gan_jax import errors
from gan_jax import input_pipeline
from gan_jax import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# configs/dcgan.py:runlocal, saving and sampling every 12 steps.
CADENCES = ['--config.log_every_steps=6', '--config.sample_every_steps=12',
            '--config.checkpoint_every_steps=12']


def _main(workdir, *flags, config='configs/dcgan.py:runlocal'):
  return [sys.executable, '-m', 'gan_jax.main', f'--config={config}', f'--workdir={workdir}',
          *CADENCES, *flags]


def test_a_misspelt_config_key_is_an_error(tmp_path):
  proc = subprocess.run(_main(tmp_path, '--config.optim.d_lrr=1e-4'), cwd=ROOT,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode != 0 and 'd_lrr' in proc.stderr


def _leaves(state):
  return jax.tree.leaves((state.g_params, state.d_params, state.g_batch_stats,
                          state.d_batch_stats, state.g_opt_state, state.d_opt_state, state.rng,
                          state.g_ema_params))


def test_resumed_run_is_bit_identical_to_an_uninterrupted_one(tiny_config, tmp_path):
  # With the toolbox on, so that G's average, the spectral-norm vectors (in G) and DiffAugment's
  # draws resume too; D keeps its BatchNorm statistics. Lazy R1 every 4th step: the resumed run
  # must regularise at step 8, not at its own first step (6).
  config = tiny_config('dcgan', num_train_steps=6, num_d_steps=2, loss='hinge',
                       augment='translation,cutout', r1_gamma=0.1, r1_every=4,
                       **{'ema.decay': 0.9, 'ema.start_step': 2, 'dcgan.g_spectral_norm': True})
  train.train_and_evaluate(config, str(tmp_path / 'a'))
  config.num_train_steps = 12
  resumed = train.train_and_evaluate(config, str(tmp_path / 'a'))
  straight = train.train_and_evaluate(config, str(tmp_path / 'b'))
  assert int(resumed.step) == int(straight.step) == 12
  assert resumed.g_ema_params and len(_leaves(resumed)) == len(_leaves(straight))
  for a, b in zip(_leaves(resumed), _leaves(straight)):
    np.testing.assert_array_equal(a, b)

  # The same workdir with another architecture is a clear error, not a restart or a crash.
  with pytest.raises(errors.ArchitectureMismatchError, match='another architecture'):
    train.train_and_evaluate(tiny_config('vanilla'), str(tmp_path / 'a'))


# shard_map's run (~50 s) joins the slow tier; pmap's stays fast. Both share one code path above
# the step, and test_devices.py checks that the two steps compute the same run.
@pytest.mark.parametrize('parallel', ['pmap', pytest.param('shard_map', marks=pytest.mark.slow)])
def test_several_steps_per_call_train_as_one_step_per_call(tiny_config, tmp_path, parallel):
  # The MLP (dropout, BatchNorm, k = 2) compiles in seconds; 12 steps in calls of 3.
  config = lambda per_call, steps=12: tiny_config(
      'vanilla', num_d_steps=2, steps_per_call=per_call, num_train_steps=steps, parallel=parallel)
  single = train.train_and_evaluate(config(1), str(tmp_path / 'single'))
  train.train_and_evaluate(config(3, steps=6), str(tmp_path / 'multi'))  # Stops, then resumes.
  multi = train.train_and_evaluate(config(3), str(tmp_path / 'multi'))
  assert int(multi.step) == int(single.step) == 12
  for a, b in zip(_leaves(multi), _leaves(single)):
    # Unrolled calls are the same arithmetic; only XLA's fusion across steps may round apart.
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
  # Logged as with one step per call: at step 12, the mean of steps 10-12.
  read = lambda name: json.loads((tmp_path / name / 'metrics.json').read_text())
  logged, expected = read('multi'), read('single')
  assert logged['step'] == expected['step'] == 12
  for name in ('d_loss', 'g_loss', 'd_real', 'd_fake', 'd_grad_norm', 'g_grad_norm'):
    np.testing.assert_allclose(logged[name], expected[name], rtol=1e-4, err_msg=name)


def test_main_trains_writes_its_outputs_and_saves_on_sigterm(tmp_path):
  """`python -m gan_jax.main`: its log, checkpoints, TensorBoard events and sample grids; SIGTERM
  (a preemption) saves a checkpoint and exits 0. Resume through main is test_faults.py's
  (restarts after SIGKILL, bit-identical to an uninterrupted run)."""
  cmd = _main(tmp_path, '--config.num_train_steps=100000', '--config.log_every_steps=3')
  proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
  log = []
  for line in proc.stderr:  # Blocks on the run's own progress; no sleeping.
    log.append(line)
    if 'step 15/' in line:  # After step 12's checkpoint and samples.
      proc.send_signal(signal.SIGTERM)
      break
  rest = proc.stderr.read()
  assert proc.wait(timeout=300) == 0, rest[-3000:]
  log = ''.join(log)
  assert 'G params: ' in log and 'D params: ' in log
  assert 'D(G(z))' in log and 'steps/s' in log
  saved = sorted(int(s) for s in os.listdir(tmp_path / 'checkpoints') if s.isdigit())
  assert saved[0] == 12 and saved[-1] >= 15 and 'SIGTERM' in rest, (saved, rest[-2000:])
  assert glob.glob(str(tmp_path / 'events.out.tfevents.*'))
  assert os.path.exists(tmp_path / 'samples' / 'step_0000012.png')


def test_missing_data_offline_fails_fast_with_one_clear_message(tmp_path, monkeypatch):
  monkeypatch.setenv('GAN_JAX_OFFLINE', '1')
  monkeypatch.setenv(data_dir.DATA_DIR_ENV, str(tmp_path / 'mirror'))
  from configs import default
  dataset = default.get_config().dataset
  dataset.tfds_dir = str(tmp_path / 'tfds')
  with pytest.raises(data_dir.DataUnavailableError) as e:
    input_pipeline.load_split(dataset)
  for needed in ("'mnist'", 'GAN_JAX_DATA_DIR', 'train-images-idx3-ubyte.gz'):
    assert needed in str(e.value)


def test_a_split_is_decoded_once_per_process_and_shared_read_only():
  from configs import default
  dataset = default.get_config().dataset
  first, again = input_pipeline.load_split(dataset), input_pipeline.load_split(dataset)
  assert again['image'] is first['image']
  with pytest.raises(ValueError, match='read-only'):
    first['image'][0, 0, 0, 0] = 255  # A caller cannot change what the next one gets.
  dataset.resize = 'pad'
  assert input_pipeline.load_split(dataset, image_size=32)['image'].shape[1:] == (32, 32, 1)
  assert input_pipeline.load_split(dataset)['image'].shape[1:] == (28, 28, 1)


def test_a_decoded_split_file_is_used_by_later_processes_and_a_damaged_one_rewritten(
    tmp_path, monkeypatch):
  import tensorflow_datasets as tfds
  from configs import default
  prepared = input_pipeline.get_builder('mnist')
  # A tfds data_dir of links to the prepared files: this test writes under tmp_path only.
  version_dir = tmp_path / 'mnist' / str(prepared.version)
  version_dir.mkdir(parents=True)
  for f in os.listdir(prepared.data_dir):
    if f != 'gan_jax_decoded':
      os.symlink(os.path.join(prepared.data_dir, f), version_dir / f)
  dataset = default.get_config().dataset
  dataset.update(tfds_dir=str(tmp_path), split='test')
  builder = input_pipeline.get_builder('mnist', tfds_dir=str(tmp_path))
  path = input_pipeline.decoded_file(builder, 'test')
  decoded = tfds.as_numpy(builder.as_dataset(split='test', batch_size=-1))

  def load_as_a_new_process():
    for key in [k for k in input_pipeline._DECODED if k[2] == str(tmp_path)]:
      del input_pipeline._DECODED[key]
    data = input_pipeline.load_split(dataset)
    np.testing.assert_array_equal(data['image'], decoded['image'])
    np.testing.assert_array_equal(data['label'], decoded['label'])

  load_as_a_new_process()  # Decodes and writes the file.
  size = os.path.getsize(path)
  with open(path, 'r+b') as f:
    f.truncate(size // 2)  # A damaged file is decoded again and written whole.
  load_as_a_new_process()
  assert os.path.getsize(path) == size
  with monkeypatch.context() as m:  # The file alone serves a later process: no tfds at all.
    m.setattr(input_pipeline, 'get_builder', lambda *a, **k: 1 / 0)
    load_as_a_new_process()


def test_network_probe_says_no_for_an_unreachable_host():
  assert not input_pipeline._network_reachable('host.invalid', timeout=2.0)


def test_batches_are_a_pure_function_of_position_and_split_over_processes():
  data = {'image': np.arange(10, dtype=np.float32)[:, None], 'label': np.arange(10)}
  full = input_pipeline.get_batch(data, batch_size=6, batch_index=3, seed=1, process_index=0,
                                  process_count=1)
  parts = [input_pipeline.get_batch(data, batch_size=6, batch_index=3, seed=1, process_index=p,
                                    process_count=2)['label'] for p in range(2)]
  np.testing.assert_array_equal(np.concatenate(parts), full['label'])
  # One epoch visits every example once.
  epoch = np.concatenate([input_pipeline.global_batch_indices(10, 5, i, 1) for i in range(2)])
  assert sorted(epoch) == list(range(10))
  # The order is each epoch's permutation drawn from (seed, epoch), whichever batch asks first
  # (the cache of permutations changes nothing): runs checkpointed before resume on the same data.
  perms = [np.random.default_rng([1, e]).permutation(10) for e in range(2)]
  for i in (1, 0, 1):  # Batch 1 straddles the epochs: positions 6-9 of epoch 0, 0-1 of epoch 1.
    np.testing.assert_array_equal(input_pipeline.global_batch_indices(10, 6, i, 1),
                                  np.concatenate([perms[0], perms[1]])[6 * i:6 * i + 6])


def test_batches_are_put_on_devices_one_step_ahead():
  produced = []

  def host():
    for i in range(4):
      produced.append(i)
      yield i

  ahead = train._ahead(host(), 2)
  assert next(ahead) == 0 and produced == [0, 1]  # Batch 1 is in flight while step 0 runs.
  assert list(ahead) == [1, 2, 3]  # In order, none lost at the end.


@pytest.mark.parametrize('parallel', ['pmap', 'shard_map'])
@pytest.mark.parametrize('name', ['vanilla', 'dcgan'])
def test_the_step_compiles_once(tiny_config, parallel, name):
  """The placed state has the sharding of the step's own outputs, so the second call reuses the
  first call's program (under pmap, flax's replicate alone made it compile twice), also when
  pmap's step is compiled with compiler options (xla_cpu.compile_with)."""
  config = tiny_config(name, parallel=parallel)
  data = input_pipeline.load_split(config.dataset, image_size=config.image_size)
  state = checkpoints.create_train_state(config, data_shape=data['image'].shape[1:],
                                         num_classes=0)
  step, put_state, put_batch = train.parallelize(config, jax.devices()[:1])
  pstate, batches = put_state(state), train.host_batches(config, data, 0)
  lowered = []  # One event per program lowered to XLA (before any compilation cache lookup).
  listener = lambda event, _, **kw: lowered.append(event) if event.endswith(
      'jaxpr_to_mlir_module_duration') else None
  jax.monitoring.register_event_duration_secs_listener(listener)
  try:
    for _ in range(3):
      pstate, _ = step(pstate, put_batch(next(batches)))
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)
  assert len(lowered) == 1, lowered


@pytest.mark.parametrize('parallel', ['pmap', 'shard_map'])
def test_xla_convs_compute_the_ynnpack_step(tiny_config, parallel):
  """The DCGAN step compiled with XLA's own convolution kernels (the default on CPU) and with
  YNNPACK's: the same three steps to float32 rounding; the options change kernels, not math."""
  runs = {}
  for kernels in ('xla_convs', 'ynnpack'):
    # Width 16: YNNPACK takes none of the tiny width-8 nets' convs, so both would compile alike.
    config = tiny_config('dcgan', parallel=parallel, xla_cpu_kernels=kernels,
                         **{'dcgan.width': 16})
    data = input_pipeline.load_split(config.dataset, image_size=config.image_size)
    state = checkpoints.create_train_state(config, data_shape=data['image'].shape[1:],
                                           num_classes=0)
    step, put_state, put_batch = train.parallelize(config, jax.devices()[:1])
    pstate, batches = put_state(state), train.host_batches(config, data, 0)
    losses = []
    for _ in range(3):
      pstate, metrics = step(pstate, put_batch(next(batches)))
      losses.append([float(np.ravel(metrics[k])[0]) for k in ('d_loss', 'g_loss')])
    final = jax.device_get(train.unreplicate(config, pstate))
    runs[kernels] = losses, jax.tree.leaves((final.g_params, final.d_params))
  (losses, params), (ynn_losses, ynn_params) = runs['xla_convs'], runs['ynnpack']
  np.testing.assert_allclose(losses, ynn_losses, rtol=1e-5)
  diff = np.concatenate([np.abs(a - b).ravel() for a, b in zip(params, ynn_params)])
  assert diff.max() > 0  # The options took effect: two compilations, two roundings.
  assert np.mean(diff > 1e-6) < 1e-2  # The bulk agrees to float32 rounding.
  # Adam moves a param by up to ~its rate per step however small the gradient, so where a
  # gradient near 0 rounds to the other sign a param may differ by up to ~2 rates per step.
  lr = max(config.optim.g_lr, config.optim.d_lr)
  assert diff.max() < 2 * 3 * lr, diff.max()
