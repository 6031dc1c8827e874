"""The mode metrics on synthetic samples, and the registered 2-D mixture sources."""
import math

import ml_collections
import numpy as np

from gan_jax import input_pipeline
from gan_jax import sources
from gan_jax import toy


def _dataset(name, scale=1.0, n=2500):
  return ml_collections.ConfigDict({'name': name, 'scale': scale, 'num_examples': n, 'seed': 0,
                                    'split': 'train'})


def test_perfect_samples_cover_every_mode():
  for name, modes, std in (('ring8', toy.ring_modes(), sources.RING_STD),
                           ('grid25', toy.grid_modes(), sources.GRID_STD)):
    data = input_pipeline.load_split(_dataset(name, scale=5.0))
    assert data['image'].dtype == np.float32 and data['image'].shape == (2500, 2)
    assert np.abs(data['image']).max() < 1.0  # Inside G's tanh range.
    m = toy.mode_metrics(data['image'] * 5.0, modes, std)
    assert m['modes'] == len(modes)
    assert m['high_quality'] > 0.98
    assert m['kl'] < 0.02


def test_samples_on_one_mode_cover_one_mode():
  modes = toy.grid_modes()
  samples = modes[7] + np.random.default_rng(0).normal(0, 0.05, (2500, 2))
  m = toy.mode_metrics(samples, modes, 0.05)
  assert m['modes'] == 1 and m['high_quality'] > 0.98
  assert abs(m['kl'] - math.log(25)) < 1e-6


def test_samples_between_modes_are_low_quality():
  modes = toy.ring_modes()
  samples = np.random.default_rng(0).normal(0, 0.3, (2500, 2))  # A blob at the centre.
  m = toy.mode_metrics(samples, modes, 0.02)
  assert m['modes'] == 0 and m['high_quality'] == 0.0
