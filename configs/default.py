"""Shared defaults for every gan_jax config; the model configs change a few fields.

  python -m gan_jax.main --config=configs/default.py --workdir=/tmp/gan_default
"""
import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.seed = 0

  config.dataset = ml_collections.ConfigDict()
  config.dataset.name = 'mnist'  # Any tfds image dataset with `image` (and `label`).
  config.dataset.split = 'train'
  config.dataset.eval_split = 'test'
  config.dataset.resize = 'bilinear'  # How images reach `image_size`: 'bilinear' or 'pad'.
  config.dataset.tfds_dir = ''  # '' = $TFDS_DATA_DIR or ~/tensorflow_datasets.
  config.dataset.local_mirror = ''  # '' = $GAN_JAX_DATA_DIR or ../shared/data beside the repo.
  config.image_size = 28

  config.model = 'dcgan'  # 'mlp', 'dcgan' or 'dcgan_seed32'.
  config.conditional = False  # G(z|y), D(x|y) with the dataset's labels (Mirza & Osindero).
  config.num_classes = 0  # Conditional only: 0 takes the dataset's; else it must match it.
  # > 0: G and D conditioned on this many k-means clusters of the training images instead of
  # labels (none are read), G's clusters drawn by their shares (gan_jax/clusters.py); 0: off.
  config.clusters = 0
  config.latent_dim = 100
  config.prior = 'normal'  # 'normal' N(0, I) or 'uniform' U(-1, 1).
  config.mlp = ml_collections.ConfigDict()
  config.mlp.g_hidden = (256, 512, 1024)
  config.mlp.d_hidden = (512, 256)
  config.mlp.dropout = 0.3
  config.mlp.g_batch_norm = True  # BatchNorm after G's hidden layers (seed 002).
  config.mlp.g_activation = 'leaky_relu'  # G's hidden units: gan_jax/models/mlp.py:ACTIVATIONS.
  config.mlp.pack = 1  # PacGAN: D's logit is for `pack` samples together (1: each on its own).
  config.mlp.maxout = 0  # D's hidden units: maxout of this many pieces (0: leaky ReLU).
  config.dcgan = ml_collections.ConfigDict()
  config.dcgan.width = 64
  config.dcgan.g_width = 0  # > 0: G's width instead of `width` (D keeps `width`).
  config.dcgan.kernel_size = 4
  config.dcgan.d_kernel_size = 0  # > 0: D's kernel size instead of `kernel_size` (G keeps it).
  # G's upsampling: 'transposed' (4x4 fractional-strided convs) or 'resize' (nearest, then 3x3).
  config.dcgan.g_upsampling = 'transposed'
  config.dcgan.upsample_impl = 'auto'  # 'auto', 'conv_transpose', 'subpixel' or 'dot_grad'.
  # The backward of D's convs (and the seed's 32x32 nets'): 'auto' (ours on CPU), 'xla' or
  # 'dot_grad' (gan_jax/models/conv.py).
  config.dcgan.conv_impl = 'auto'
  config.dcgan.g_batch_norm = True  # The paper's BatchNorm in G's hidden layers.
  config.dcgan.g_spectral_norm = False  # Spectral norm on G's layers too (SAGAN, BigGAN).
  # > 0: a fully connected hidden layer of this width after z in G and before D's logit; 1024 at
  # 28x28 makes InfoGAN's MNIST nets (Lucic et al. 2018's architecture for MNIST).
  config.dcgan.fc_hidden = 0
  # D's normalisation: 'batch' (the paper's), 'spectral' (Miyato et al. 2018: every layer, no
  # BatchNorm) or 'none' (what the Wasserstein gradient penalty needs).
  config.dcgan.d_norm = 'batch'
  # > 0: D also sees the standard deviation of its last features over groups of this many
  # examples (ProGAN's minibatch standard deviation, group 4); 0: off.
  config.dcgan.minibatch_std = 0
  config.dcgan.d_dropout = 0.0  # > 0: dropout after each of D's hidden activations.
  # How a conditional D (labels or clusters) sees the class: 'planes' (one-hot planes beside the
  # image) or 'projection' (Miyato & Koyama 2018: logit + <V[y], D's last features>).
  config.dcgan.d_conditioning = 'planes'
  # How a conditional G takes the class: 'input' (one-hot beside z) or 'batch_norm' (each of its
  # BatchNorms has the class's own gain and bias: conditional BatchNorm, as in BigGAN's G).
  config.dcgan.g_conditioning = 'input'

  # 'non_saturating', 'minimax' (the saturating log(1 - D(G(z)))), 'hinge', 'least_squares',
  # 'wasserstein' (with gp_lambda > 0) or 'relativistic' (RpGAN: each real scored against a
  # fake; G's step runs D on the real batch too): gan_jax/losses.py.
  config.loss = 'non_saturating'
  # > 0: one-sided label smoothing, real images labelled 1 - label_smoothing in D's
  # cross-entropy (Salimans et al. 2016 use 0.1); minimax and non_saturating only.
  config.label_smoothing = 0.0
  config.num_d_steps = 1  # k in Algorithm 1.
  # True: G's update learns from the last D update's latents and fakes (PyTorch's DCGAN example)
  # and reuses their forward pass, one G forward fewer per step; False: fresh ones (Algorithm 1).
  config.reuse_fakes = False
  config.r1_gamma = 0.0  # > 0: R1 penalty (gamma / 2) E|grad_x D(x)|^2 on real data (Mescheder).
  config.r2_gamma = 0.0  # > 0: the same penalty on the fakes (R2; with R1 in R3GAN), on R1's steps.
  config.r1_every = 1  # > 1: that penalty x r1_every, every r1_every-th step (StyleGAN2's lazy R1).
  config.gp_lambda = 0.0  # > 0: WGAN-GP's gradient penalty (Gulrajani et al.: 10); D without BN.
  # DiffAugment (Zhao et al. 2020) on every image D sees: comma-separated 'color', 'translation',
  # 'cutout'; '' = off. gan_jax/augment.py.
  config.augment = ''
  # Consistency regularisation of D (gan_jax/consistency.py): lambda * E|D(x) - D(T(x))|^2 on real
  # (CR-GAN) and fake (bCR: both 10) images, T a shift of up to `max_shift` pixels (and a
  # left-right flip with `flip`). 0 and 0: off.
  config.consistency = ml_collections.ConfigDict()
  config.consistency.real = 0.0
  config.consistency.fake = 0.0
  config.consistency.max_shift = 2
  config.consistency.flip = False
  # An exponential moving average of G's params, used for samples and evaluation (gan_jax/ema.py).
  config.ema = ml_collections.ConfigDict()
  config.ema.decay = 0.0  # 0: off; e.g. 0.999.
  config.ema.start_step = 0  # Before it the average equals G's params.
  # Top-k training (Sinha et al. 2020; losses.TopK): G learns from the fraction of its fakes that D
  # rates most real, annealed from 1 by `decay` every `decay_every` steps to `min_fraction`.
  config.top_k = ml_collections.ConfigDict()
  config.top_k.min_fraction = 1.0  # 1: off.
  config.top_k.decay = 0.99
  config.top_k.decay_every = 1000
  # InfoGAN's codes (Chen et al. 2016; gan_jax/info.py, the DCGAN only): a categorical code of
  # `categories` values and `continuous` real codes, read off z's first entries, which D's Q head
  # learns to recover from G's samples and G to make recoverable. 0 and 0: off.
  config.info = ml_collections.ConfigDict()
  config.info.categories = 0
  config.info.continuous = 0
  config.info.weight = 1.0  # lambda of the categorical code's cross-entropy.
  config.info.continuous_weight = 0.1  # lambda of the continuous codes' squared error.
  config.batch_size = 64  # Global batch, split over all devices of all processes.
  config.num_train_steps = 10_000  # Generator updates.
  # Train steps per host call (multi_step.make_multi_step, unrolled): pays dispatch and the host's
  # loop once per call, for accelerators; no gain on CPU. The loop's cadences (log, sample,
  # checkpoint, eval, num_train_steps) must be multiples of it.
  config.steps_per_call = 1
  config.optim = ml_collections.ConfigDict()
  config.optim.name = 'adam'  # 'adam' or 'sgd' (with momentum, the original paper's choice).
  config.optim.g_lr = 2e-4
  config.optim.d_lr = 2e-4
  config.optim.b1 = 0.5
  config.optim.b2 = 0.999
  config.optim.momentum = 0.5
  # > 0: both rates decay linearly to 0 over the last `decay_steps` generator steps (0: constant).
  config.optim.decay_steps = 0

  config.parallel = 'pmap'  # 'pmap' or 'shard_map': the same step, two ways to run it.
  # The kernels XLA:CPU compiles the train step to (gan_jax/xla_cpu.py): 'xla_convs' (XLA's own
  # convolutions, YNNPACK's dots and reductions), 'ynnpack' (XLA:CPU's default) or 'xla'.
  config.xla_cpu_kernels = 'xla_convs'
  config.log_every_steps = 100
  config.sample_every_steps = 1000
  config.checkpoint_every_steps = 1000
  config.keep_checkpoints = 3
  # Evaluation during training (gan_jax.evaluate): cheap by default, the classifier metrics of
  # MNIST-like data on 2k samples; add 'inception' for FID/KID/PR (slow on CPU: ~15 images/s).
  # The best value of `best_metric` (lower is better) and its step go into checkpoint metadata.
  config.eval = ml_collections.ConfigDict()
  config.eval.every_steps = 5000  # 0: off.
  config.eval.num_samples = 2000
  config.eval.metrics = 'classifier'  # Comma-separated: inception, classifier, memorisation.
  config.eval.best_metric = 'fcd'  # 'fid' with inception.
  config.sample_grid_size = 8  # An 8x8 grid (conditional: one row per class).
  return config


def runlocal(config):
  """Shrinks a config so a run compiles and steps in seconds on 2 CPU cores (big_vision's
  `:runlocal`): for a laptop, and the one shrinker every test starts from."""
  config.num_train_steps = 12
  config.batch_size = 16
  config.log_every_steps = 3
  config.sample_every_steps = 6
  config.checkpoint_every_steps = 6
  config.dcgan.width = 8
  config.dcgan.g_width = 0  # G at D's shrunk width too (sota's MNIST clusters set 48).
  config.mlp.g_hidden = (32, 64)
  config.mlp.d_hidden = (64, 32)
  config.eval.every_steps = 0
  config.eval.num_samples = 200
  return config


def parse_arg(arg, *, positional=None, **spec):
  """The `get_config(arg)` argument (big_vision's parse_arg) as a ConfigDict of `spec`'s keys.

  `arg` is comma-separated words: `key=value` (read as the type of spec's default) or a bare
  `key`, which sets a bool key to True; a bare word that is no bool key sets the `positional` key.
  E.g. parse_arg('grid25,runlocal', positional='mixture', mixture='ring8', runlocal=False).
  """
  out = ml_collections.ConfigDict(spec)
  for word in filter(None, (w.strip() for w in (arg or '').split(','))):
    key, has_value, value = word.partition('=')
    if not has_value and isinstance(spec.get(key), bool):
      out[key] = True
    elif not has_value and positional:
      out[positional] = word
    elif has_value and key in spec:
      default = spec[key]
      out[key] = (value.lower() in ('1', 'true', 'yes') if isinstance(default, bool)
                  else type(default)(value) if default is not None else value)
    else:
      raise ValueError(f'Unknown config argument {word!r}; the arguments are {sorted(spec)}.')
  return out
