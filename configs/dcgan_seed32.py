"""The seed's 32x32 DCGAN (seed 002, "Practice 2") on MNIST padded to 32x32.

  python -m gan_jax.main --config=configs/dcgan_seed32.py --workdir=/tmp/seed32
"""
from configs import default


def get_config(arg=None):
  arg = default.parse_arg(arg, runlocal=False)
  config = default.get_config()
  config.model = 'dcgan_seed32'
  config.image_size = 32
  config.dataset.resize = 'pad'
  config.num_train_steps = 5000
  if arg.runlocal:
    default.runlocal(config)
  return config
