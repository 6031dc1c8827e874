"""Generator loss x discriminator steps per G step x learning rate: DCGAN (width 16) on MNIST.

  python -m gan_jax.sweep --config=configs/dcgan.py \
      --sweep=experiments/sweeps/loss_dsteps_lr.py --workdir=workdirs/sweep_loss_dsteps_lr \
      --parallel=2 --metric=fcd

8 points x 300 generator steps, batch 64; 18 minutes on 2 shared, loaded CPU cores.
Results (final classifier FCD of each point): experiments/sweeps/README.md.
"""
from gan_jax.sweep import product, sweep


def get_sweep():
  budget = [{'config.num_train_steps': 300, 'config.batch_size': 64, 'config.dcgan.width': 16,
             'config.log_every_steps': 50, 'config.sample_every_steps': 300,
             'config.checkpoint_every_steps': 300}]
  return product(
      budget,
      sweep('config.loss', ['minimax', 'non_saturating']),
      sweep('config.num_d_steps', [1, 2]),
      # G and D share the rate; zip_ keeps them together on one axis.
      [{'config.optim.g_lr': lr, 'config.optim.d_lr': lr} for lr in (2e-4, 1e-3)],
  )
