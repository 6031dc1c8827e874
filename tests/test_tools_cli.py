"""gan_jax.sample and gan_jax.evaluate: user errors end in one line, arithmetic has a default."""
import os
import subprocess
import sys

import pytest

from gan_jax import checkpoints
from gan_jax import errors
from gan_jax import sample
from gan_jax import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize('tool, flags, message', [
    ('gan_jax.sample', ['--mode=arithmetic'], 'WorkdirError: .*config.json not found'),
    ('gan_jax.evaluate', ['--metrics=fid'], r"ConfigError: Unknown metrics \['fid'\]"),
])
def test_tools_end_a_user_error_in_one_line(tmp_path, tool, flags, message):
  proc = subprocess.run([sys.executable, '-m', tool, f'--workdir={tmp_path}', *flags], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 1, proc.stderr[-2000:]
  assert 'Traceback' not in proc.stderr
  import re  # pylint: disable=g-import-not-at-top
  assert re.search(message, proc.stderr.strip().splitlines()[-1]), proc.stderr[-2000:]


def test_arithmetic_without_groups(tiny_config, tmp_path):
  # A conditional model: 7 - 1 + 4 by label.
  config = tiny_config('cgan', num_train_steps=2, checkpoint_every_steps=2, sample_every_steps=2,
                       log_every_steps=2)
  train.train_and_evaluate(config, str(tmp_path))
  sample.run(str(tmp_path), 'arithmetic', num_rows=2)
  assert os.path.exists(tmp_path / 'latent' / 'arithmetic.png')
  # Unconditional, and no classifier for the data set: a clear error instead of a traceback.
  config = tiny_config('vanilla', **{'dataset.name': 'ring8'})
  state = checkpoints.create_train_state(config, data_shape=(28, 28, 1), num_classes=0,
                                         axis_name=None)
  with pytest.raises(errors.ConfigError, match="classifier for 'ring8'.*--groups="):
    sample.arithmetic(config, state, '', 2, 0)
  with pytest.raises(errors.ConfigError, match='needs three groups'):
    sample.arithmetic(config, state, '1,2', 2, 0)
