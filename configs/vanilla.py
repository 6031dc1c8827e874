"""The vanilla MLP GAN of the seeds (seed 002, "Practice 1") on MNIST, z ~ U(-1, 1).

  python -m gan_jax.main --config=configs/vanilla.py --workdir=/tmp/vanilla
"""
from configs import default


def get_config(arg=None):
  arg = default.parse_arg(arg, runlocal=False)
  config = default.get_config()
  config.model = 'mlp'
  config.prior = 'uniform'
  config.num_train_steps = 10_000
  if arg.runlocal:
    default.runlocal(config)
  return config
