"""Mode collapse on 2-D mixtures (VEEGAN / Unrolled GAN protocol), with the package's MLPs and steps.

  PYTHONPATH=. python experiments/mixtures2d/run.py [--seeds=3] [--num_steps=10000]

For each mixture (ring8, grid25), generator loss (minimax, non_saturating) and k (1, 5), trains
`--seeds` runs of configs/mixture2d.py (`--variant=baseline`: its seed-style MLP) and measures, on
2,500 samples of G: modes covered, the fraction of high-quality samples and KL(mode histogram ||
uniform) (see gan_jax/toy.py). Writes results_<tag>.json, table_<tag>.md and one scatter figure
per mixture (first seed, over training). Both learning rates drop by 10x at each of `--decays`
(fractions of the run): the samples only settle on the modes once the rates are small.

With `--drs_steps` > 0 (the default) each run is also measured after discriminator rejection
sampling (Azadi et al. 2019; gan_jax/rejection.py): D trained alone against the final G, then G's
samples accepted with probability exp(logit - max logit). The scatter's last column shows them.
"""
import itertools
import json
import os
import time

from absl import app
from absl import flags
import jax
import numpy as np

from configs import mixture2d
from experiments import common
from gan_jax import input_pipeline
from gan_jax import rejection
from gan_jax import sources
from gan_jax import toy

flags.DEFINE_string('out', os.path.dirname(os.path.abspath(__file__)), 'Output folder.')
flags.DEFINE_integer('seeds', 3, 'Seeds per configuration.')
flags.DEFINE_integer('first_seed', 0, 'Seeds are first_seed, ..., first_seed + seeds - 1: more '
                     'seeds of a configuration without repeating the first ones.')
flags.DEFINE_integer('num_steps', 10_000, 'Generator updates per run.')
flags.DEFINE_list('mixtures', ['ring8', 'grid25'], 'Which mixtures.')
flags.DEFINE_list('runs', ['non_saturating:1', 'minimax:1', 'non_saturating:5', 'minimax:5'],
                  'Generator loss:k (discriminator steps per generator step) pairs.')
flags.DEFINE_integer('latent_dim', 0, "z's dimension; 0 keeps configs/mixture2d.py's (2).")
flags.DEFINE_string('variant', '', "configs/mixture2d.py's variant: '' or 'baseline'.")
flags.DEFINE_list('decays', ['0.5', '0.75'], 'Fractions of the run where both rates drop 10x.')
flags.DEFINE_string('tag', '', 'Suffix of the output files (default: from the flags).')
flags.DEFINE_integer('drs_steps', 5000, 'Discriminator rejection sampling: steps of D alone '
                     'against the final G before filtering its samples; 0: off.')
flags.DEFINE_float('drs_lr', 1e-3, "D's rate for those steps.")
flags.DEFINE_integer('pack', 1, 'PacGAN: D judges this many samples at once (config.mlp.pack). '
                     'Needs --drs_steps=0: a packed D has no logit per sample.')
flags.DEFINE_float('top_k', 1.0, 'Top-k training (Sinha et al. 2020; config.top_k): the least '
                   'fraction of fakes G learns from, those D rates most real; 1: off.')
flags.DEFINE_integer('top_k_every', 100, 'Generator steps between the 0.99x anneals of that '
                     'fraction (config.top_k.decay_every).')
FLAGS = flags.FLAGS

NUM_EVAL = 2500  # As VEEGAN.
MODES = {'ring8': (toy.ring_modes(), sources.RING_STD),
         'grid25': (toy.grid_modes(), sources.GRID_STD)}


def get_config(mixture, loss, k, seed, num_steps):
  config = mixture2d.get_config(f'{mixture},{FLAGS.variant}' if FLAGS.variant else mixture)
  config.loss, config.num_d_steps, config.seed = loss, k, seed
  config.num_train_steps = num_steps
  config.latent_dim = FLAGS.latent_dim or config.latent_dim
  config.mlp.pack = FLAGS.pack
  config.top_k.min_fraction, config.top_k.decay_every = FLAGS.top_k, FLAGS.top_k_every
  return config


def samples(config, state, num=NUM_EVAL, seed=0):
  """G's samples in data units (training-mode BatchNorm over batches of the training size)."""
  num_padded = -(-num // config.batch_size) * config.batch_size
  x = common.generator_samples(state, jax.random.PRNGKey(1000 + seed), num=num_padded,
                               batch_size=config.batch_size)
  return np.asarray(x)[:num] * config.dataset.scale


def train_one(config, stages, decays):
  """Trains one run; returns the final metrics, the samples at each stage and the final state.

  `stages` must include the `decays` steps, where both rates drop 10x (once more at each).
  """
  data, state = common.load(config)
  x = jax.numpy.asarray(data['image'])
  modes, std = MODES[config.dataset.name]
  snapshots, done = [], 0
  for stage in stages:
    if done in decays:
      factor = 10.0 ** (decays.index(done) + 1)
      state = common.with_learning_rates(config, state, config.optim.g_lr / factor,
                                         config.optim.d_lr / factor)
    state, _ = common.run(config, state, x, stage - done, chunk=stages[0])
    done = stage
    snapshots.append((stage, samples(config, state)))
  return toy.mode_metrics(snapshots[-1][1], modes, std), snapshots, state


def rejection_sampled(config, state, num_steps, d_lr, seed=0):
  """Discriminator rejection sampling (gan_jax/rejection.py) of the trained G.

  D is first trained alone against the fixed G for `num_steps` at rate `d_lr`, without R1: the
  penalised D of training is smooth, not the density ratio that rejection sampling needs.
  Returns (metrics of NUM_EVAL accepted samples, acceptance rate, the samples).
  """
  x = jax.numpy.asarray(input_pipeline.load_split(config.dataset)['image'])
  state = common.with_learning_rates(config, state, config.optim.g_lr, d_lr)
  state, _ = common.d_steps(state, x, num_steps=num_steps, batch_size=config.batch_size)
  logits = lambda pts: common.discriminator_logits(state, pts)
  propose = lambda rng: common.generator_samples(state, rng, num=16 * config.batch_size,
                                                 batch_size=config.batch_size)
  burn_in = logits(propose(jax.random.PRNGKey(2000 + seed)))
  accepted, rate = rejection.rejection_sample(propose, logits, jax.random.PRNGKey(3000 + seed),
                                              NUM_EVAL, max_logit=float(burn_in.max()))
  modes, std = MODES[config.dataset.name]
  pts = accepted * config.dataset.scale
  return toy.mode_metrics(pts, modes, std), rate, pts


def plot(mixture, runs, path):
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  modes, _ = MODES[mixture]
  rows, cols = len(runs), len(runs[0][1])
  fig, axes = plt.subplots(rows, cols, figsize=(2.1 * cols, 2.1 * rows), squeeze=False)
  for r, (name, snaps) in enumerate(runs):
    for c, (step, pts) in enumerate(snaps):
      ax = axes[r, c]
      ax.scatter(modes[:, 0], modes[:, 1], s=12, c='k', marker='x', lw=0.8)
      ax.scatter(pts[:, 0], pts[:, 1], s=1, c='tab:green', alpha=0.4, rasterized=True)
      ax.set_xlim(-5, 5)
      ax.set_ylim(-5, 5)
      ax.set_xticks([])
      ax.set_yticks([])
      if r == 0:
        ax.set_title(step if isinstance(step, str) else f'step {step}', fontsize=8)
      if c == 0:
        ax.set_ylabel(name, fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=70)
  plt.close(fig)


def main(argv):
  del argv
  if FLAGS.pack > 1 and FLAGS.drs_steps:
    raise app.UsageError('--pack > 1 needs --drs_steps=0: rejection sampling needs D\'s logit '
                         'for each sample, which a packed D does not give.')
  os.makedirs(FLAGS.out, exist_ok=True)
  n = FLAGS.num_steps
  decays = sorted(int(float(f) * n) for f in FLAGS.decays)
  stages = sorted({n // 20, n // 4, n // 2, n, *decays})
  tag = FLAGS.tag or '_'.join(FLAGS.mixtures) + (
      f'_z{FLAGS.latent_dim}' if FLAGS.latent_dim else '') + (
      f'_{FLAGS.variant}' if FLAGS.variant else '') + (
      f'_pack{FLAGS.pack}' if FLAGS.pack > 1 else '') + (
      f'_topk{FLAGS.top_k:g}' if FLAGS.top_k < 1 else '')
  results = []
  for mixture in FLAGS.mixtures:
    figure_runs = []
    for loss, k in [(r.split(':')[0], int(r.split(':')[1])) for r in FLAGS.runs]:
      for seed in range(FLAGS.first_seed, FLAGS.first_seed + FLAGS.seeds):
        t = time.time()
        config = get_config(mixture, loss, k, seed, n)
        metrics, snaps, state = train_one(config, stages, decays)
        if FLAGS.drs_steps:
          drs, rate, pts = rejection_sampled(config, state, FLAGS.drs_steps, FLAGS.drs_lr, seed)
          metrics.update({f'drs_{key}': value for key, value in drs.items()},
                         drs_acceptance=rate)
          snaps.append(('DRS', pts))
        results.append({'mixture': mixture, 'loss': loss, 'k': k, 'seed': seed, **metrics,
                        'seconds': time.time() - t})
        print(json.dumps(results[-1]), flush=True)
        # Written after every run: a long sweep that is stopped keeps what it measured.
        with open(os.path.join(FLAGS.out, f'results_{tag}.json'), 'w') as f:
          json.dump(results, f, indent=1)
        if seed == FLAGS.first_seed:
          figure_runs.append((f'{loss}, k={k}', snaps))
    plot(mixture, figure_runs, os.path.join(FLAGS.out, f'scatter_{mixture}_{tag}.png'))
  columns = [''] + (['drs_'] if FLAGS.drs_steps else [])
  header = ['mixture', 'G loss', 'k'] + [f'{"DRS " if c else ""}{name}' for c in columns for name in
                                         ('modes (mean, per seed)', 'high quality % (per seed)',
                                          'KL (mean)')]
  header += ['DRS acceptance'] if FLAGS.drs_steps else []
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  for key, group in itertools.groupby(results, lambda r: (r['mixture'], r['loss'], r['k'])):
    group = list(group)
    cells = list(map(str, key))
    for c in columns:
      modes = [g[c + 'modes'] for g in group]
      hq = [100 * g[c + 'high_quality'] for g in group]
      cells += [f'{np.mean(modes):.1f} of {group[0]["num_modes"]} ({", ".join(map(str, modes))})',
                f'{np.mean(hq):.1f} ({", ".join(f"{h:.1f}" for h in hq)})',
                f'{np.mean([g[c + "kl"] for g in group]):.3f}']
    if FLAGS.drs_steps:
      cells.append(f'{np.mean([g["drs_acceptance"] for g in group]):.2f}')
    lines.append('| ' + ' | '.join(cells) + ' |')
  with open(os.path.join(FLAGS.out, f'table_{tag}.md'), 'w') as f:
    f.write('\n'.join(lines) + '\n')
  print('\n'.join(lines))


if __name__ == '__main__':
  app.run(main)
