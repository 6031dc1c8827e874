"""Bad inputs end in one line naming the problem and the fix, exit 1, and nothing overwritten."""
import os
import re
import subprocess
import sys

from absl import logging
import numpy as np
import pytest

from gan_jax import data_dir, distributed, errors, train, validation

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize('overrides, message', [
    ({'model': 'resnet'}, "Unknown model 'resnet'; set --config.model to one of"),
    ({'loss': 'wgan'}, "Unknown loss 'wgan'; set --config.loss to one of"),
    ({'dcgan.d_norm': 'layer'}, "Unknown dcgan.d_norm 'layer'"),
    ({'dcgan.g_upsampling': 'bilinear'}, "Unknown dcgan.g_upsampling 'bilinear'"),
    # BatchNorm mixes the examples: the penalty would constrain another function.
    ({'loss': 'wasserstein', 'gp_lambda': 10.0}, 'The gradient penalty needs a D without '
                                                 'BatchNorm: set --config.dcgan.d_norm=none'),
    ({'gp_lambda': -1.0}, 'gp_lambda=-1.0 must be >= 0'),
    ({'augment': 'translation,rotate'}, "Unknown augment policies ['rotate']"),
    ({'ema.decay': 1.0}, 'ema.decay=1.0 must be in [0, 1)'),
    ({'prior': 'laplace'}, "Unknown prior 'laplace'"),
    ({'optim.name': 'lamb'}, "Unknown optim.name 'lamb'"),
    ({'image_size': 30}, 'DCGAN cannot make 30x30 images'),
    ({'model': 'dcgan_seed32', 'image_size': 28}, 'set --config.image_size=32'),
    ({'optim.g_lr': -1e-4}, 'optim.g_lr=-0.0001 must be positive; set --config.optim.g_lr'),
    ({'optim.d_lr': 0.0}, 'optim.d_lr=0.0 must be positive'),
    ({'num_train_steps': 0}, 'num_train_steps=0 must be positive; set --config.num_train_steps'),
    ({'num_d_steps': -2}, 'num_d_steps=-2 must be positive'),
    ({'batch_size': 0}, 'batch_size=0 must be a positive multiple'),
])
def test_invalid_settings_are_config_errors(tiny_config, overrides, message):
  with pytest.raises(errors.ConfigError, match=re.escape(message)):
    validation.validate_config(tiny_config('dcgan', **overrides))


def test_batch_not_divisible_by_the_devices(tiny_config, monkeypatch):
  monkeypatch.setattr(validation.jax, 'device_count', lambda: 4)
  with pytest.raises(errors.ConfigError,
                     match='multiple of the 4 devices; set --config.batch_size'):
    validation.validate_config(tiny_config('dcgan', batch_size=18))


def test_conditional_model_needs_matching_labels(tiny_config):
  config = tiny_config('cgan')
  with pytest.raises(errors.ConfigError, match='needs labels.*conditional=False'):
    validation.validate_data(config, {'image': np.zeros((4, 28, 28, 1)), 'label': None,
                                 'num_classes': 0})
  data = {'image': np.zeros((4, 28, 28, 1)), 'label': np.zeros(4, np.int32), 'num_classes': 10}
  assert validation.validate_data(config, data) == 10
  config.num_classes = 12
  with pytest.raises(errors.ConfigError, match='num_classes=12 but .* has 10 classes'):
    validation.validate_data(config, data)


def test_unwritable_workdir(tmp_path):
  (tmp_path / 'file').write_text('keep me')
  with pytest.raises(errors.ConfigError, match='is not writable .*choose another --workdir'):
    validation.check_workdir(str(tmp_path / 'file' / 'run'))
  assert (tmp_path / 'file').read_text() == 'keep me'


def test_non_finite_metrics_name_the_step_and_metric():
  history = [{'d_loss': np.float32(1.0)}, {'d_loss': np.float32(np.nan)}]
  with pytest.raises(FloatingPointError, match='d_loss is nan at step 8'):
    train.check_finite(7, history)


@pytest.mark.parametrize('error', [
    errors.ConfigError('bad setting'), errors.ArchitectureMismatchError('other net'),
    errors.CheckpointError('all unreadable'), FloatingPointError('d_loss is nan at step 3'),
    data_dir.DataUnavailableError('no mnist'), distributed.DistributedInitError('no peer')])
def test_main_reports_user_errors_in_one_line_and_exits_1(error, monkeypatch):
  logged = []
  monkeypatch.setattr(logging, 'error', lambda fmt, *a: logged.append(fmt % a))

  def fail():
    raise error
  with pytest.raises(SystemExit) as e:
    errors.run_or_exit(fail)
  assert e.value.code == 1 and len(logged) == 1 and str(error) in logged[0]


def test_main_keeps_tracebacks_for_bugs():
  with pytest.raises(ZeroDivisionError):
    errors.run_or_exit(lambda: 1 / 0)


def test_main_ends_a_bad_run_with_one_line_and_writes_nothing(tmp_path):
  (tmp_path / 'notes.txt').write_text('mine')
  proc = subprocess.run(
      [sys.executable, '-m', 'gan_jax.main', '--config=configs/dcgan.py',
       f'--workdir={tmp_path}', '--config.loss=wgan'],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 1
  last = proc.stderr.strip().splitlines()[-1]
  assert "Unknown loss 'wgan'" in last and '--config.loss' in last
  assert 'Traceback' not in proc.stderr
  assert os.listdir(tmp_path) == ['notes.txt']
