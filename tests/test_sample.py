"""gan_jax.sample on a tiny conditional run: config.json, restore, and each picture's shape."""
import math
import os

import jax
import numpy as np
import pytest

from gan_jax import images
from gan_jax import sample
from gan_jax import train


def test_slerp_ends_and_norm():
  rng = np.random.default_rng(0)
  z0, z1 = rng.normal(size=(1, 8)), rng.normal(size=(1, 8))
  t = np.linspace(0, 1, 5)[:, None]
  path = sample.slerp(z0, z1, t)
  np.testing.assert_allclose(path[0], z0[0], atol=1e-6)
  np.testing.assert_allclose(path[-1], z1[0], atol=1e-6)
  # Between two latents of equal norm slerp stays on their sphere, where the linear path cuts
  # inside it (the reason to use it for Gaussian latents).
  z1 = z1 * np.linalg.norm(z0) / np.linalg.norm(z1)
  norms = np.linalg.norm(sample.slerp(z0, z1, t), axis=-1)
  np.testing.assert_allclose(norms, np.linalg.norm(z0), rtol=1e-6)
  assert np.linalg.norm((z0 + z1) / 2) < 0.95 * np.linalg.norm(z0)
  # Equal angles per step: the path's points are evenly spaced along the arc.
  path = sample.slerp(z0, z1, t)
  steps_ = np.linalg.norm(np.diff(path, axis=0), axis=-1)
  np.testing.assert_allclose(steps_, steps_[0], rtol=1e-6)


def test_truncated_latents_follow_the_truncated_prior():
  key, n = jax.random.PRNGKey(3), 100_000
  # Off, the draw is the prior's own, bit for bit: untruncated results do not move.
  np.testing.assert_array_equal(sample.steps.sample_latent(key, 4, 8, 'normal', 0.0),
                                jax.random.normal(key, (4, 8)))
  for t in (0.5, 1.0, 2.0):
    z = np.asarray(sample.steps.sample_latent(key, n, 1, 'normal', t)).ravel()
    assert np.abs(z).max() <= t
    # Var of N(0, 1) restricted to [-t, t]: 1 - 2 t phi(t) / (2 Phi(t) - 1); the sample variance
    # of 1e5 draws is within ~0.5 % of it (5 standard errors here).
    phi = math.exp(-t * t / 2) / math.sqrt(2 * math.pi)
    var = 1 - 2 * t * phi / math.erf(t / math.sqrt(2))
    assert abs(z.var() / var - 1) < 0.02, (t, z.var(), var)
    assert abs(z.mean()) < 5 * math.sqrt(var / n)
  u = np.asarray(sample.steps.sample_latent(key, n, 1, 'uniform', 0.5))
  assert np.abs(u).max() <= 0.5 and abs(u.var() - 0.25 / 3) < 0.02 * 0.25 / 3
  with pytest.raises(ValueError, match='truncation'):
    sample.steps.sample_latent(key, 2, 2, 'normal', -1.0)


def _assert_same_picture(a, b):
  # G runs on batches of other sizes here and there: allow one level of uint8 rounding.
  assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_tools_on_a_tiny_cgan_workdir(tiny_config, tmp_path, monkeypatch):
  config = tiny_config('cgan', num_train_steps=2, checkpoint_every_steps=2, sample_every_steps=2,
                       log_every_steps=2)
  train.train_and_evaluate(config, str(tmp_path))
  assert os.path.exists(tmp_path / 'config.json')
  config, _, state = sample.load_state(str(tmp_path))
  assert int(state.step) == 2 and state.num_classes == 10
  g = sample.grid(config, state, 'new', 3, 0)
  assert g.shape == (10 * 30 + 2, 3 * 30 + 2, 1)  # One row per class.
  # --truncation: G gets the seed's truncated z (2 steps in, G's pictures barely depend on z).
  seen = []
  generate = sample.generate
  monkeypatch.setattr(sample, 'generate', lambda s, z, y=None: seen.append(z) or generate(s, z, y))
  sample.grid(config, state, 'new', 3, 0, truncation=0.5)
  truncated = sample.new_latents(state, 3, 0, truncation=0.5)
  np.testing.assert_array_equal(seen[-1], np.tile(truncated, (10, 1)))
  assert np.abs(truncated).max() <= 0.5 < np.abs(sample.new_latents(state, 3, 0)).max()
  monkeypatch.undo()
  rows = sample.interpolate(state, 2, 5, 0)
  assert rows.shape == (4 * 30 + 2, 5 * 30 + 2, 1)  # Linear and spherical rows per pair.
  # Every row of a pair starts at G(z0) and ends at G(z1), with the pair's label throughout.
  z = sample.new_latents(state, 4, 0)
  label = np.random.default_rng(0).integers(0, 10, 2)
  cell = lambda row, col: rows[2 + 30 * row:30 * (row + 1), 2 + 30 * col:30 * (col + 1)]
  for pair in range(2):
    ends = images.make_grid(sample.generate(state, z[2 * pair:2 * pair + 2],
                                            np.full(2, label[pair])), nrow=2)
    start, end = ends[2:30, 2:30], ends[2:30, 32:60]
    for row in (2 * pair, 2 * pair + 1):
      _assert_same_picture(cell(row, 0), start)
      _assert_same_picture(cell(row, 4), end)
    assert np.abs(cell(2 * pair, 2).astype(int) - start).max() > 0  # It moves in between.
  arith = sample.arithmetic(config, state, '1,2,3', 3, 0)
  assert arith.shape == (4 * 30 + 2, 4 * 30 + 2, 1)
  # The result row opens with G(mean z(A) - mean z(B) + mean z(C) | C), and each group's row
  # ends with G(its mean z | its label).
  means = [sample.new_latents(state, 3, i).mean(0) for i in range(3)]
  result = (means[0] - means[1] + means[2])[None].astype(np.float32)
  cell = lambda row, col: arith[2 + 30 * row:30 * (row + 1), 2 + 30 * col:30 * (col + 1)]
  first = images.make_grid(sample.generate(state, result, np.array([3])), nrow=1)[2:30, 2:30]
  _assert_same_picture(cell(3, 0), first)
  for row, label in enumerate((1, 2, 3)):
    mean = images.make_grid(sample.generate(state, means[row][None].astype(np.float32),
                                            np.array([label])), nrow=1)[2:30, 2:30]
    _assert_same_picture(cell(row, 3), mean)


def test_leave_one_out_distances_skip_the_image_itself():
  from gan_jax.evaluation import memorisation
  x = np.array([[0., 0.], [3., 4.], [3., 5.]])
  np.testing.assert_allclose(memorisation.leave_one_out_distances(x), [5., 1., 1.])
