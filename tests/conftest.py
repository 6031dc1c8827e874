"""Shared fixtures: tiny configs on the real data (MNIST from ../shared/data, prepared by tfds)."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # `configs` and `gan_jax` import from the repository root.


def tiny(config, **overrides):
  """Shrinks any config so a run compiles and steps in seconds on 2 CPU cores."""
  config.batch_size = 16
  config.num_train_steps = 12
  config.log_every_steps = 3
  config.sample_every_steps = 6
  config.checkpoint_every_steps = 6
  config.dcgan.width = 8
  config.mlp.g_hidden = (32, 64)
  config.mlp.d_hidden = (64, 32)
  config.eval.every_steps = 0  # tests/test_evaluate.py turns it on.
  for key, value in overrides.items():
    target = config
    *path, last = key.split('.')
    for p in path:
      target = target[p]
    target[last] = value
  return config


@pytest.fixture
def tiny_config():
  from configs import dcgan
  return lambda name='dcgan', **kw: tiny(__import__(f'configs.{name}', fromlist=['x'])
                                         .get_config(), **kw)
