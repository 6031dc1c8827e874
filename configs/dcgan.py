"""DCGAN (Radford et al. 2016) on MNIST at 28x28, Adam(2e-4, beta1=0.5), non-saturating loss.

  python -m gan_jax.main --config=configs/dcgan.py --workdir=/tmp/dcgan
  python -m gan_jax.main --config=configs/dcgan.py:runlocal --workdir=/tmp/dcgan_local
"""
from configs import default


def get_config(arg=None):
  arg = default.parse_arg(arg, runlocal=False)
  config = default.get_config()
  config.model = 'dcgan'
  config.image_size = 28
  config.prior = 'normal'
  config.num_train_steps = 5000
  if arg.runlocal:
    default.runlocal(config)
  return config
