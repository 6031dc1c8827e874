"""DCGAN at 64x64 on the 400 Olivetti faces (40 people), for the latent-space experiment.

  python -m gan_jax.main --config=configs/faces64.py --workdir=/tmp/olivetti
  python -m gan_jax.sample --workdir=/tmp/olivetti --mode=interpolate

Only 400 images: expect memorisation (see experiments/latent/README.md).
"""
from configs import default


def get_config(arg=None):
  arg = default.parse_arg(arg, runlocal=False)
  config = default.get_config()
  config.dataset.name = 'olivetti_faces'
  config.dataset.eval_split = 'train'  # No held-out faces: the source returns all 400.
  config.image_size = 64
  config.model = 'dcgan'
  config.dcgan.width = 32  # Half the paper's width: minutes on a CPU.
  config.prior = 'normal'
  config.batch_size = 64
  config.num_train_steps = 3000  # 480 epochs of the 400 faces: 25 min at 2 steps/s on 2 CPU cores.
  config.log_every_steps = 50
  config.sample_every_steps = 250
  config.checkpoint_every_steps = 250
  # No classifier for faces: evaluation is the memorisation check, against leave-one-out distances
  # of the training faces (there is no held-out split).
  config.eval.every_steps = 250
  config.eval.metrics = 'memorisation'
  config.eval.num_samples = 500
  if arg.runlocal:
    default.runlocal(config)
  return config
