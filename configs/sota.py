"""The best recipe measured for MNIST and Fashion-MNIST: the 28x28 DCGAN of configs/dcgan.py with
an EMA of G (decay 0.999 from step 2,000; standing BatchNorm statistics), 10,000 steps (~20-22
min on 2 CPU cores); unconditional G learns at twice D's rate. MNIST, seeds 0-2: FID 14.6 +-
0.5 (16.3 +- 0.7 with G at D's rate); Fashion-MNIST, seeds 0-2: 20.9 +- 0.5 (23.5 +- 0.6 at D's
rate) (README, "Results"). `mnist,conditional` (the cGAN, G at D's rate, ~31
min), seed 0: FID 6.8, label accuracy 99.5 %. `infogan` adds InfoGAN's fully connected layer of 1024 to G and D
(dcgan.fc_hidden), G at twice D's rate, 5,000 steps (~23-26 min): seeds 0-2 FID
8.8 +- 0.04; Fashion-MNIST seed 0 23.8 (no gain there). `clusters=30` conditions G and D on
30 k-means clusters of the training pixels, no labels read, and runs 15,000 steps (~25 min
alone on 2 AVX-512 cores; MNIST 26,000, 29-31 min on Intel Xeon ones): the best of both data sets,
seeds 0-2, Fashion-MNIST (`fashion_mnist,clusters=30`) FID 14.15 +- 0.81 (16.95 +- 0.97 at
10,000 steps), MNIST 4.98 +- 0.05 with MNIST's EMA decay of 0.9995, lazy R1 on D and G of width
48 (5.15 +- 0.09 at the 20,000 steps 30 minutes hold on AMD EPYC cores, `clusters=30,steps=20000`;
5.40 +- 0.14 with G of width 64 at the 17,000 steps its step fits, `clusters=30,steps=17000
--config.dcgan.g_width=64`; 5.55 +- 0.13 without R1 as well, `--config.r1_gamma=0`; without R1
5.75 +- 0.09 at 15,000 steps; 5.90 +- 0.26 at 15,000 with 0.999; 6.78 +- 0.26 at 10,000 with
0.999).
`sn_hinge` swaps in spectral norm on D and the hinge loss (the earlier recipe: MNIST FID 31.9 at
8,000 steps).
`projection` has D see the label or cluster by projection (Miyato & Koyama 2018) instead of
input planes: MNIST `clusters=30,projection` seed 0 FID 6.33 against 5.78 (both EMA 0.999, no
R1, G of width 64; experiments/toolbox/README.md, "Variants of clusters=30").

  python -m gan_jax.main --config=configs/sota.py --workdir=/tmp/sota_mnist
  python -m gan_jax.main --config=configs/sota.py:fashion_mnist --workdir=/tmp/sota_fashion
  python -m gan_jax.main --config=configs/sota.py:mnist,conditional --workdir=/tmp/sota_cgan
  python -m gan_jax.main --config=configs/sota.py:infogan --workdir=/tmp/sota_infogan
  python -m gan_jax.main --config=configs/sota.py:clusters=30 --workdir=/tmp/sota_clusters
  python -m gan_jax.main --config=configs/sota.py:fashion_mnist,clusters=30 --workdir=/tmp/sota_fclusters
  python -m gan_jax.main --config=configs/sota.py:sn_hinge,steps=8000 --workdir=/tmp/sota_sn
  python -m gan_jax.main --config=configs/sota.py:clusters=30,projection --workdir=/tmp/sota_proj
  python -m gan_jax.main --config=configs/sota.py:runlocal --workdir=/tmp/sota_local
"""
from configs import default


def get_config(arg=None):
  arg = default.parse_arg(arg, positional='dataset', dataset='mnist', conditional=False,
                          sn_hinge=False, infogan=False, clusters=0, projection=False, steps=0,
                          runlocal=False)
  if arg.dataset not in ('mnist', 'fashion_mnist'):
    raise ValueError(f'configs/sota.py is for mnist or fashion_mnist, not {arg.dataset!r}.')
  config = default.get_config()
  config.dataset.name = arg.dataset
  config.model = 'dcgan'
  config.image_size = 28
  config.conditional = arg.conditional
  if arg.conditional:
    config.sample_grid_size = 10  # One row per class.
  config.ema.decay = 0.999
  # The average weights the last ~1,000 steps; started early it lags a G that still improves
  # fast (worse at 3,000 steps, experiments/toolbox/README.md).
  config.ema.start_step = 2000
  if arg.infogan:
    # A fully connected layer of 1024 in G and D (InfoGAN's MNIST nets): twice the FLOPs and
    # 3.3-3.9 steps/s against ~8-9, hence 5,000 steps in 23-26 minutes.
    config.dcgan.fc_hidden = 1024
  if arg.infogan or not (arg.conditional or arg.sn_hinge):
    # D ends the runs at equal rates ahead (accuracy 0.92 / 0.92); G at 4e-4 beat 2e-4 on each
    # MNIST seed 0-2 (FID 14.4 / 14.3 / 15.1 against 15.7 / 17.1 / 16.2) and on Fashion-MNIST's
    # seeds 0-2 (21.4 / 20.4 / 20.8 against 24.1 / 22.8 / 23.6), and with clusters=30 (MNIST seed
    # 0: 5.78 against 6.01, EMA 0.999). Untried on the cGAN and sn_hinge.
    config.optim.g_lr = 2 * config.optim.d_lr
  # > 0: G and D conditioned on this many k-means clusters of the images, no labels read.
  config.clusters = arg.clusters
  if arg.clusters and arg.dataset == 'mnist':
    # An average over ~2,000 steps, not ~1,000: MNIST seeds 0-2 FID 5.69 / 5.85 / 5.73 against
    # 5.78 / 6.20 / 5.72 with 0.999, KID 0.0025 on each against 0.0026-0.0028. Fashion-MNIST keeps
    # 0.999: seeds 0-2 14.36 +- 0.88 with 0.9995 against 14.15 +- 0.81, each higher. 0.9998 lags
    # (MNIST seed 0: 6.54, recall 0.63).
    config.ema.decay = 0.9995
    # Lazy R1 on D (StyleGAN2's: gamma 0.01, the penalty weighted by 16 on every 16th step):
    # seeds 0-2 FID 5.29 / 5.55 / 5.37 against 5.50 / 5.70 / 5.46 without it, each lower.
    # It costs 1.03x the steps without R1 (experiments/benchmarks/r1_step_bench.py): seed 0
    # trained 17,000 steps in 27.9 min alone on 2 AVX-512 cores, the same config without R1 in
    # 28.1 right after it (README, "The best"). Fashion-MNIST seed 0 lost with it (14.67 against
    # 13.96; experiments/toolbox/README.md), so there D stays unpenalised.
    config.r1_gamma = 0.01
    config.r1_every = 16
    # G of width 48 (0.69 M params against 0.95 M; D keeps 64): 0.77x the unpenalised step, so
    # the wall of 17,000 steps at width 64 holds 20,000: seeds 0-2 FID 5.07 / 5.24 / 5.15
    # against 5.29 / 5.55 / 5.37, each lower (README, "The best").
    config.dcgan.g_width = 48
  if arg.projection:  # D sees the label or cluster by projection, not as input planes.
    config.dcgan.d_conditioning = 'projection'
  if arg.sn_hinge:
    config.dcgan.d_norm = 'spectral'
    config.loss = 'hinge'
    config.ema.start_step = 1000
  # With clusters the FID still falls after 10,000 steps (Fashion-MNIST, each seed 0-2, README
  # "The best"); 15,000 take ~25 minutes alone on 2 AVX-512 cores. MNIST runs the 26,000 that 30
  # minutes hold with its narrower G on 2 Intel Xeon AVX-512 cores (29-31 min alone): seeds 0-2 FID
  # 4.93 / 5.02 / 4.99 there, against 4.95 / 5.02 / 5.07 at 25,000 and 5.15 / 5.24 / 5.15 at
  # 20,000. On AMD EPYC AVX-512 cores 30 minutes hold 20,000 (29.9 min; `steps=20000`).
  default_steps = 15000 if arg.clusters else 10000
  if arg.clusters and arg.dataset == 'mnist':
    default_steps = 26000
  if arg.infogan:
    default_steps = 5000
  config.num_train_steps = arg.steps or default_steps
  config.eval.every_steps = config.num_train_steps  # The EMA G's classifier metrics at the end.
  config.log_every_steps = 500
  if arg.runlocal:
    default.runlocal(config)
  return config
