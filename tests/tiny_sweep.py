"""A 2-point sweep for test_sweep.py (not collected by pytest): minimax vs non-saturating, tiny."""
from gan_jax.sweep import product, sweep, zip_


def get_sweep():
  tiny = [{'config.num_train_steps': 4, 'config.batch_size': 16, 'config.dcgan.width': 8,
           'config.log_every_steps': 2, 'config.sample_every_steps': 4,
           'config.checkpoint_every_steps': 4, 'config.eval.num_samples': 200}]
  return product(tiny, zip_(sweep('config.loss', ['minimax', 'non_saturating']),
                            sweep('config.seed', [0, 1])))
