"""Crashes and damaged checkpoints: kills at random moments, truncated files, orbax leftovers."""
import json
import os
import subprocess
import sys

from absl import logging
import jax
import numpy as np
import pytest

from gan_jax import errors
from gan_jax import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _truncate_largest_file(directory):
  files = [os.path.join(d, f) for d, _, fs in os.walk(directory) for f in fs]
  largest = max(files, key=os.path.getsize)
  with open(largest, 'r+b') as f:
    f.truncate(os.path.getsize(largest) // 2)
  return largest


def _params(state):
  return jax.tree.leaves((state.step, state.g_params, state.d_params, state.g_batch_stats,
                          state.g_opt_state, state.d_opt_state))


def test_a_corrupt_latest_checkpoint_is_skipped_for_the_previous_one(tiny_config, tmp_path,
                                                                     monkeypatch):
  warnings = []
  monkeypatch.setattr(logging, 'warning', lambda fmt, *a: warnings.append(fmt % a))
  config = tiny_config('dcgan', num_train_steps=12)
  straight = train.train_and_evaluate(config, str(tmp_path / 'a'))
  ckpts = tmp_path / 'a' / 'checkpoints'
  assert sorted(os.listdir(ckpts)) == ['12', '6']
  _truncate_largest_file(ckpts / '12' / 'state')
  os.makedirs(ckpts / '18.orbax-checkpoint-tmp-1234')  # A write killed half-way.

  resumed = train.train_and_evaluate(config, str(tmp_path / 'a'))
  assert any('checkpoints/12 is unreadable' in w and 'resumed from step 6' in w
             for w in warnings), warnings
  assert os.listdir(tmp_path / 'a' / 'checkpoints_unreadable') == ['12']
  assert sorted(os.listdir(ckpts)) == ['12', '6']  # 12 retrained and saved anew.
  for x, y in zip(_params(resumed), _params(straight)):
    np.testing.assert_array_equal(x, y)

  # Nothing readable while checkpoints exist: an error, never a silent fresh start.
  for step in ('6', '12'):
    _truncate_largest_file(ckpts / step / 'state')
  with pytest.raises(errors.CheckpointError, match='Refusing to start from scratch'):
    train.train_and_evaluate(config, str(tmp_path / 'a'))


# SIGTERM's save and clean exit: test_train.py's
# test_main_trains_writes_its_outputs_and_saves_on_sigterm
# (a run that resumes from any checkpoint ends bit-identical: here). `experiments/fault_test.py
# --sigterms=N` adds SIGTERMs to the SIGKILLs; each costs another start of the trainer.
@pytest.mark.slow  # ~40 s: five starts of the trainer.
def test_training_survives_sigkill_at_random_moments(tmp_path):
  proc = subprocess.run(
      [sys.executable, 'experiments/fault_test.py', f'--workdir={tmp_path}', '--sigkills=2',
       '--sigterms=0', '--num_steps=24', '--seed=1'],
      cwd=ROOT, capture_output=True, text=True, timeout=900)
  assert 'RESULT' in proc.stdout, proc.stderr[-3000:]
  result = json.loads(proc.stdout.split('RESULT', 1)[1])
  assert proc.returncode == 0 and not result['errors'], result
  assert result['survived'] == {'kill_log': 1, 'kill_save': 1, 'term_log': 0}
  assert result['bit_identical']
