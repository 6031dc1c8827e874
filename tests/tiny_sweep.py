"""A 2-point sweep for test_sweep.py (not collected by pytest): minimax vs non-saturating, tiny."""
from gan_jax.sweep import product, sweep, zip_


def get_sweep():
  # On configs/dcgan.py:runlocal: 4 steps, evaluated (200 samples) at the end.
  tiny = [{'config.num_train_steps': 4, 'config.log_every_steps': 2,
           'config.sample_every_steps': 4, 'config.checkpoint_every_steps': 4,
           'config.eval.every_steps': 4}]
  return product(tiny, zip_(sweep('config.loss', ['minimax', 'non_saturating']),
                            sweep('config.seed', [0, 1])))
