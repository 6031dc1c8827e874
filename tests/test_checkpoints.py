"""The workdir's files: config.json per start, the fingerprint, no diverged save, TensorBoard's
hparams, scalars and images."""
import glob
import io
import json
import os

import jax
import numpy as np
import pytest

from gan_jax import checkpoints
from gan_jax import errors
from gan_jax import train
from gan_jax import validation


def _read_json(path):
  with open(path) as f:
    return json.load(f)


def _events(workdir):
  """Every event of the workdir's TensorBoard files, read by TensorFlow's own reader (which
  checks the records' framing and checksums): gan_jax.summary writes them without it."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  paths = sorted(glob.glob(os.path.join(workdir, 'events.out.tfevents.*')))
  assert paths, os.listdir(workdir)
  return [e for path in paths for e in tf.compat.v1.train.summary_iterator(path)]


def _logged_hparams(workdir):
  from tensorboard.plugins.hparams import plugin_data_pb2  # pylint: disable=g-import-not-at-top
  for event in _events(workdir):
    for value in event.summary.value:
      if value.metadata.plugin_data.plugin_name == 'hparams':
        data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
        if data.HasField('session_start_info'):
          return data.session_start_info.hparams
  return None


def _logged(workdir, step):
  """{tag: scalar value or decoded image} of the workdir's events at `step`."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  out = {}
  for event in _events(workdir):
    for value in event.summary.value if event.step == step else ():
      out[value.tag] = (value.simple_value if value.HasField('simple_value') else
                        np.asarray(Image.open(io.BytesIO(value.image.encoded_image_string))))
  return out


def test_summary_writers_opened_in_one_second_keep_their_own_files(tmp_path):
  from gan_jax import summary  # pylint: disable=g-import-not-at-top
  for step in (1, 2):  # As the evaluations of a run write theirs, one writer each.
    writer = summary.SummaryWriter(str(tmp_path))
    writer.write_scalars(step, {'eval/fcd': 10.0 * step})
    writer.close()
  assert len(glob.glob(str(tmp_path / 'events.out.tfevents.*'))) == 2
  assert [_logged(tmp_path, s)['eval/fcd'] for s in (1, 2)] == [10.0, 20.0]


def test_hparams_are_the_flattened_config_in_plain_types(tiny_config):
  config = tiny_config('dcgan')
  flat = train.hparams(config)
  assert flat['optim.g_lr'] == config.optim.g_lr and flat['dataset.name'] == 'mnist'
  assert flat['mlp.g_hidden'] == str(tuple(config.mlp.g_hidden))  # Tuples as strings.
  assert flat['eval.every_steps'] == 0 and flat['conditional'] is False
  assert all(isinstance(v, (bool, int, float, str)) for v in flat.values())
  assert len(flat) == sum(1 for _ in _leaves(config.to_dict()))


def _leaves(tree):
  for value in tree.values():
    if isinstance(value, dict):
      yield from _leaves(value)
    else:
      yield value


def test_config_json_follows_each_start_and_another_prior_or_schedule_is_refused(tiny_config, tmp_path):
  workdir = str(tmp_path)
  config = tiny_config('vanilla', num_train_steps=6)
  train.train_and_evaluate(config, workdir)
  # TensorBoard got the hyperparameters (a ConfigDict has no `flatten`: they used to be {}).
  logged = _logged_hparams(workdir)
  assert logged is not None and logged['num_train_steps'].number_value == 6
  assert logged['mlp.d_hidden'].string_value == str(tuple(config.mlp.d_hidden))
  # The step's scalars as in metrics.json, and the sample grid as in its PNG.
  logged, written = _logged(workdir, 6), _read_json(tmp_path / 'metrics.json')
  assert written['step'] == 6 and logged['steps_per_sec'] > 0
  for name in ('d_loss', 'g_loss', 'd_real', 'd_fake'):
    np.testing.assert_allclose(logged[name], written[name], rtol=1e-6, err_msg=name)
  from PIL import Image  # pylint: disable=g-import-not-at-top
  np.testing.assert_array_equal(logged['samples'],
                                np.asarray(Image.open(tmp_path / 'samples' / 'step_0000006.png')))
  assert _read_json(tmp_path / 'config.0.json')['num_train_steps'] == 6

  config.num_train_steps = 12  # Resumed with a new override: config.json is the latest start's.
  train.train_and_evaluate(config, workdir)
  assert _read_json(tmp_path / 'config.json')['num_train_steps'] == 12
  assert _read_json(tmp_path / 'config.6.json')['num_train_steps'] == 12
  assert _read_json(tmp_path / 'config.0.json')['num_train_steps'] == 6  # The earlier start.
  loaded, state = checkpoints.load_workdir(workdir)
  assert loaded.num_train_steps == 12 and int(state.step) == 12

  # G was trained on uniform latents (vanilla's prior): resuming with normal ones is another
  # model, though every parameter shape is the same.
  assert config.prior == 'uniform'
  config.prior = 'normal'
  config.num_train_steps = 18
  with pytest.raises(errors.ArchitectureMismatchError, match="'prior': 'uniform'"):
    train.train_and_evaluate(config, workdir)
  assert _read_json(tmp_path / 'config.json')['prior'] == 'uniform'  # Refused: left as it was.
  # The same nets with a learning-rate schedule: Adam's state gains a step counter, so the saved
  # optimiser state cannot be restored into it; a named refusal, not "no checkpoint readable".
  config.prior = 'uniform'
  config.optim.decay_steps = 6
  with pytest.raises(errors.ArchitectureMismatchError, match='optim.decay_steps'):
    train.train_and_evaluate(config, workdir)
  assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['12', '6']


def test_checkpoints_from_before_the_prior_or_optimiser_joined_the_fingerprint_restore():
  meta = {'model': 'mlp', 'conditional': False, 'clusters': 0, 'num_classes': 0,
          'latent_dim': 100, 'prior': 'normal', 'param_shapes_sha1': 'x', 'opt_state_sha1': 'y'}
  old = {k: v for k, v in meta.items() if k not in ('prior', 'opt_state_sha1', 'clusters')}
  assert checkpoints._same_architecture({**old, 'best': None}, meta)
  assert not checkpoints._same_architecture({**meta, 'prior': 'uniform'}, meta)
  assert not checkpoints._same_architecture({**meta, 'opt_state_sha1': 'z'}, meta)
  assert not checkpoints._same_architecture(old, {**meta, 'clusters': 10})


@pytest.mark.parametrize('ema_now,missing', [
    (False, ('g_ema_params', 'label_probs')), (True, ('g_ema_params', 'label_probs')),
    (True, ('label_probs',))])
def test_checkpoints_from_before_the_ema_or_the_label_shares_restore(tiny_config, tmp_path,
                                                                     ema_now, missing):
  """A state saved without g_ema_params and label_probs (as every checkpoint before the EMA of
  G) restores, and a run that now keeps an average starts it from the restored G; one saved
  with its average but without label_probs (before config.clusters) restores its average."""
  import flax  # pylint: disable=g-import-not-at-top
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  config = tiny_config('vanilla', **{'ema.decay': 0.9 if ema_now else 0.0})
  state = checkpoints.create_train_state(config, data_shape=(28, 28, 1), num_classes=0)
  state = state.replace(g_params=jax.tree.map(lambda x: x + 1.0, state.g_params), step=5)
  if ema_now:
    state = state.replace(g_ema_params=jax.tree.map(lambda x: x + 2.0, state.g_params))
  meta = checkpoints.architecture(config, state)
  old = flax.serialization.to_state_dict(state)
  for key in missing:
    del old[key]
  mngr = checkpoints.checkpoint_manager(str(tmp_path), config)
  mngr.save(5, args=ocp.args.Composite(state=ocp.args.StandardSave(old),
                                       meta=ocp.args.JsonSave(meta)))
  mngr.wait_until_finished()
  fresh = checkpoints.create_train_state(config, data_shape=(28, 28, 1), num_classes=0)
  restored = checkpoints.restore_checkpoint(mngr, fresh, meta)
  assert int(restored.step) == 5 and restored.label_probs == {}
  np.testing.assert_array_equal(jax.tree.leaves(restored.g_params)[0],
                                jax.tree.leaves(state.g_params)[0])
  want = state.g_ema_params if 'g_ema_params' not in missing else state.g_params
  if ema_now:
    for a, b in zip(jax.tree.leaves(restored.g_ema_params), jax.tree.leaves(want)):
      np.testing.assert_array_equal(a, b)
  else:
    assert not restored.g_ema_params


def _poisoned(parallelize, at_call, poison):
  """train.parallelize whose step's output is poisoned from call `at_call` on."""
  def wrapped(config, devices=None):
    fn, put_state, put_batch = parallelize(config, devices)
    calls = []

    def step(pstate, batch):
      calls.append(1)
      pstate, metrics = fn(pstate, batch)
      return poison(pstate, metrics) if len(calls) >= at_call else (pstate, metrics)
    return step, put_state, put_batch
  return wrapped


@pytest.mark.parametrize('what', ['metrics', 'params'])
def test_a_diverged_run_is_never_saved_between_log_steps(tiny_config, tmp_path, monkeypatch, what):
  """Checkpoints every 3 steps, logs every 12: the NaN of step 2 must stop the save at step 3."""
  nan = lambda x: x * np.nan
  if what == 'metrics':  # Step 2's loss is NaN.
    at_call, poison = 2, lambda s, m: (s, {**m, 'd_loss': nan(m['d_loss'])})
    message = 'd_loss is nan at step 2'
  else:  # The state after step 3 is NaN, its metrics are not: the state itself is checked.
    at_call, poison = 3, lambda s, m: (s.replace(g_params=jax.tree.map(nan, s.g_params)), m)
    message = r"\['g_params'\].* is not finite at step 3"
  monkeypatch.setattr(train, 'parallelize', _poisoned(train.parallelize, at_call, poison))
  config = tiny_config('vanilla', num_train_steps=12, log_every_steps=12, sample_every_steps=12,
                       checkpoint_every_steps=3)
  with pytest.raises(FloatingPointError, match=message):
    train.train_and_evaluate(config, str(tmp_path))
  assert not [s for s in os.listdir(tmp_path / 'checkpoints') if s.isdigit()]


def test_eval_settings_are_checked_at_start_up(tiny_config, monkeypatch, tmp_path):
  on = {'eval.every_steps': 6}
  for overrides, message in [
      ({'eval.metrics': 'classifier,inceptoin'}, r"eval.metrics=.*Unknown metrics \['inceptoin'\]"),
      ({'eval.best_metric': 'fidd'}, "Unknown eval.best_metric 'fidd'"),
      ({'eval.num_samples': 0}, 'eval.num_samples=0 must be positive'),
      ({'eval.every_steps': -1}, 'eval.every_steps=-1 must be >= 0'),
      # FID's bias on 200 samples would rank steps by sample count, not quality.
      ({'eval.metrics': 'inception', 'eval.best_metric': 'fid'}, 'is a biased FID.*kid')]:
    with pytest.raises(errors.ConfigError, match=message):
      validation.validate_config(tiny_config('dcgan', **{**on, **overrides}))
  validation.validate_config(tiny_config('dcgan', **on))  # The defaults pass.
  # Off: not checked (the tiny configs turn evaluation off).
  validation.validate_config(tiny_config('dcgan', **{'eval.metrics': 'nothing'}))
  # Inception asked for, and its weights nowhere: an error now, not 5,000 steps in.
  from gan_jax import data_dir  # pylint: disable=g-import-not-at-top
  monkeypatch.setenv(data_dir.DATA_DIR_ENV, str(tmp_path))
  monkeypatch.setattr(data_dir, '_shared', lambda: tmp_path)
  with pytest.raises(errors.ConfigError, match='eval.metrics asks for inception.*inception_fid'):
    validation.validate_config(tiny_config('dcgan', **on, **{'eval.metrics': 'inception',
                                                              'eval.best_metric': 'kid'}))
