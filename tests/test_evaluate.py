"""gan_jax.evaluate: evaluation during training (best step in checkpoint metadata) and the CLI."""
import json
import os
import subprocess
import sys

import pytest

from gan_jax import checkpoints
from gan_jax import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(workdir, step):
  with open(os.path.join(workdir, 'eval', f'step_{step:07d}', 'metrics.json')) as f:
    return json.load(f)


def test_training_evaluates_and_keeps_the_best_step_in_checkpoint_metadata(tiny_config, tmp_path):
  # With an EMA of G: training evaluates the EMA generator, as the CLI does by default.
  config = tiny_config('cgan', num_train_steps=8, checkpoint_every_steps=4,
                       **{'eval.every_steps': 4, 'eval.num_samples': 200, 'ema.decay': 0.5,
                          'ema.start_step': 2})
  train.train_and_evaluate(config, str(tmp_path))
  results = {step: _read(tmp_path, step) for step in (4, 8)}
  for r in results.values():
    assert r['num_samples'] == 200 and r['protocol']['classifier'] == 'mnist'
  # What training wrote is the evaluation of that step's generator: the same numbers again from
  # its checkpoint, evaluated on its own.
  from gan_jax import evaluate
  _, state = checkpoints.load_workdir(str(tmp_path), step=8)
  again = evaluate.evaluate(config, state, num_samples=200, metrics=['classifier'],
                            seed=config.seed, progress=False)
  for name in ('classifier_score', 'fcd', 'label_accuracy'):
    assert abs(again[name] - results[8][name]) <= 1e-5 * abs(again[name]) + 1e-6, name
  # --raw_generator evaluates the raw G instead: other numbers, in their own folder.
  evaluate.run(str(tmp_path), step=8, num_samples=200, metrics='classifier', seed=config.seed,
               raw_generator=True)
  with open(os.path.join(tmp_path, 'eval', 'step_0000008_raw', 'metrics.json')) as f:
    raw = json.load(f)
  assert raw['protocol']['generator'] == 'raw' and abs(raw['fcd'] - again['fcd']) > 1e-3
  # --truncation: z within [-T, T], other numbers, in their own folder, with T in the protocol.
  evaluate.run(str(tmp_path), step=8, num_samples=200, metrics='classifier', seed=config.seed,
               truncation=0.5)
  with open(os.path.join(tmp_path, 'eval', 'step_0000008_trunc0.5', 'metrics.json')) as f:
    truncated = json.load(f)
  assert truncated['protocol']['truncation'] == 0.5
  assert truncated['protocol']['generator'] == 'ema' and abs(truncated['fcd'] - again['fcd']) > 1e-3
  # Each evaluation keeps its own TensorBoard series at step 8: no run overwrites another's.
  from tests import test_checkpoints
  logged = test_checkpoints._logged(str(tmp_path / 'eval'), 8)  # pylint: disable=protected-access
  for tag, r in (('eval', results[8]), ('eval_raw', raw), ('eval_trunc0.5', truncated)):
    assert logged[f'{tag}/fcd'] == pytest.approx(r['fcd'], rel=1e-6), tag
  # 8 steps in, G is far from MNIST: FCD far above real test images' (~0.01, tested in
  # test_classifier_metrics.py) and its conditioning barely learnt.
  assert results[8]['fcd'] > 1.0 and results[8]['label_accuracy'] < 0.5
  best_step = min(results, key=lambda s: results[s]['fcd'])
  best = checkpoints.saved_best(checkpoints.checkpoint_manager(str(tmp_path), config))
  assert best == {'metric': 'fcd', 'value': results[best_step]['fcd'], 'step': best_step}
  # A resumed run keeps the best so far and still restores (metadata is not architecture).
  config.num_train_steps = 12
  train.train_and_evaluate(config, str(tmp_path))
  best = checkpoints.saved_best(checkpoints.checkpoint_manager(str(tmp_path), config))
  fcds = {s: _read(tmp_path, s)['fcd'] for s in (4, 8, 12)}
  assert best['value'] == min(fcds.values()) and best['step'] == min(fcds, key=fcds.get)


@pytest.mark.slow  # ~28 s: a subprocess that loads and compiles Inception.
def test_cli_evaluates_a_workdir_and_writes_metrics_json(tiny_config, tmp_path):
  config = tiny_config('dcgan', num_train_steps=6)
  train.train_and_evaluate(config, str(tmp_path))
  env = dict(os.environ, GAN_JAX_CACHE=str(tmp_path / 'cache'), PYTHONPATH=ROOT)
  cmd = [sys.executable, '-m', 'gan_jax.evaluate', f'--workdir={tmp_path}', '--num_samples=8',
         '--metrics=inception,classifier', '--step=6']
  out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-2000:]
  r = _read(tmp_path, 6)
  assert r['step'] == 6 and r['num_samples'] == r['num_reference'] == 8
  # An untrained G (6 steps) is far from MNIST by every measure.
  assert r['fid'] > 50 and r['fcd'] > 1 and r['precision'] < 0.5
  assert os.path.exists(tmp_path / 'eval' / 'step_0000006' / 'samples.png')
  assert 'fid' in out.stdout and 'metrics.json' in out.stdout
  # The reference statistics were cached for the next evaluation.
  assert any(f.endswith('.npz') for _, _, fs in os.walk(tmp_path / 'cache') for f in fs)


def test_memorisation_without_a_heldout_split_uses_leave_one_out(tiny_config, tmp_path):
  """Olivetti has no held-out faces (eval_split == split): the reference must not be the training
  set itself, whose distance to itself is 0 and would make the ratio infinite."""
  from gan_jax import evaluate
  from gan_jax.evaluation import memorisation
  config = tiny_config('vanilla', **{'dataset.eval_split': 'train'})
  state = checkpoints.create_train_state(config, data_shape=(28, 28, 1), num_classes=0,
                                         axis_name=None)
  train_images = evaluate._split_images(config, 'train')[:300]
  r = evaluate.evaluate(config, state, num_samples=64, metrics=['memorisation'], progress=False,
                        train_images=train_images, out_dir=str(tmp_path))
  expected = memorisation.leave_one_out_distances(train_images).mean()
  assert abs(r['pixel_nn_distance_heldout'] - expected) < 1e-4 * expected, r
  assert 0 < r['pixel_memorisation_ratio'] < float('inf')
  assert os.path.exists(tmp_path / 'nearest.png')
