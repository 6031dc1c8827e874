"""gan_jax.sample on a tiny conditional run: config.json, restore, and each picture's shape."""
import os

import numpy as np

from gan_jax import sample
from gan_jax import train


def test_slerp_ends_and_norm():
  rng = np.random.default_rng(0)
  z0, z1 = rng.normal(size=(1, 8)), rng.normal(size=(1, 8))
  t = np.linspace(0, 1, 5)[:, None]
  path = sample.slerp(z0, z1, t)
  np.testing.assert_allclose(path[0], z0[0], atol=1e-6)
  np.testing.assert_allclose(path[-1], z1[0], atol=1e-6)


def test_tools_on_a_tiny_cgan_workdir(tiny_config, tmp_path):
  config = tiny_config('cgan', num_train_steps=2, checkpoint_every_steps=2, sample_every_steps=2,
                       log_every_steps=2)
  train.train_and_evaluate(config, str(tmp_path))
  assert os.path.exists(tmp_path / 'config.json')
  config, _, state = sample.load_state(str(tmp_path))
  assert int(state.step) == 2 and state.num_classes == 10
  g = sample.grid(config, state, 'new', 3, 0)
  assert g.shape == (10 * 30 + 2, 3 * 30 + 2, 1)  # One row per class.
  rows = sample.interpolate(state, 2, 5, 0)
  assert rows.shape[0] == 4 * 30 + 2  # Linear and spherical rows per pair.
  arith = sample.arithmetic(config, state, '1,2,3', 3, 0)
  assert arith.shape == (4 * 30 + 2, 4 * 30 + 2, 1)


def test_leave_one_out_distances_skip_the_image_itself():
  from gan_jax.evaluation import memorisation
  x = np.array([[0., 0.], [3., 4.], [3., 5.]])
  np.testing.assert_allclose(memorisation.leave_one_out_distances(x), [5., 1., 1.])
