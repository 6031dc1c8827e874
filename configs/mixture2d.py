"""Mode collapse on 2-D mixtures: 8 Gaussians on a ring (`:ring8`) or 25 on a 5x5 grid (`:grid25`).

  python -m gan_jax.main --config=configs/mixture2d.py:ring8 --workdir=/tmp/ring8
  python -m gan_jax.main --config=configs/mixture2d.py:grid25,baseline --workdir=/tmp/grid25
  python experiments/mixtures2d/run.py   # the table and scatter plots over seeds and losses

Points are divided by `dataset.scale` so that they lie inside G's tanh range. What covers every
mode (experiments/mixtures2d/README.md): no BatchNorm in G (a sample must not depend on the rest of
its batch), 256-unit layers, and the R1 penalty on D; the seed-style 128-128 MLP with BatchNorm and
no penalty (`:baseline`) covers at most 5 of 8 ring modes.
"""
from configs import default


def get_config(arg=None):
  arg = default.parse_arg(arg, positional='mixture', mixture='ring8', baseline=False,
                          runlocal=False)
  name = arg.mixture
  if name not in ('ring8', 'grid25'):
    raise ValueError(f'Unknown mixture {name!r}; choose ring8 or grid25.')
  config = default.get_config()
  config.dataset.name = name
  # Data / scale lies inside tanh's range: ring radius 2 -> 0.8, grid corners +-4 -> +-0.8.
  config.dataset.scale = 2.5 if name == 'ring8' else 5.0
  config.dataset.num_examples = 100_000
  config.dataset.seed = 0
  config.image_size = 0  # Not an image.
  config.model = 'mlp'
  config.prior = 'normal'
  config.latent_dim = 2
  config.mlp.g_hidden = (256, 256, 256)
  config.mlp.d_hidden = (256, 256, 256)
  config.mlp.g_batch_norm = False
  config.mlp.dropout = 0.0
  config.r1_gamma = 1.0
  config.batch_size = 256
  config.num_train_steps = 10_000
  config.optim.g_lr = 1e-3
  config.optim.d_lr = 1e-3
  config.log_every_steps = 1000
  if arg.baseline:  # What the first table used: the seed's MLP shape, BatchNorm, no R1.
    config.mlp.g_hidden = config.mlp.d_hidden = (128, 128)
    config.mlp.g_batch_norm = True
    config.r1_gamma = 0.0
  if arg.runlocal:
    default.runlocal(config)
  return config
