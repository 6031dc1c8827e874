"""Mode collapse on 2-D mixtures (VEEGAN / Unrolled GAN protocol), with the package's MLPs and steps.

  PYTHONPATH=. python experiments/mixtures2d/run.py [--seeds=3] [--num_steps=10000]

For each mixture (ring8, grid25), generator loss (minimax, non_saturating) and k (1, 5), trains
`--seeds` runs of configs/mixture2d.py (`--variant=baseline`: its seed-style MLP) and measures, on
2,500 samples of G: modes covered, the fraction of high-quality samples and KL(mode histogram ||
uniform) (see gan_jax/toy.py). Writes results_<tag>.json, table_<tag>.md and one scatter figure
per mixture (first seed, over training). Both learning rates drop by 10x at each of `--decays`
(fractions of the run): the samples only settle on the modes once the rates are small.
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
from gan_jax import sources
from gan_jax import toy

flags.DEFINE_string('out', os.path.dirname(os.path.abspath(__file__)), 'Output folder.')
flags.DEFINE_integer('seeds', 3, 'Seeds per configuration.')
flags.DEFINE_integer('num_steps', 10_000, 'Generator updates per run.')
flags.DEFINE_list('mixtures', ['ring8', 'grid25'], 'Which mixtures.')
flags.DEFINE_list('runs', ['non_saturating:1', 'minimax:1', 'non_saturating:5', 'minimax:5'],
                  'Generator loss:k (discriminator steps per generator step) pairs.')
flags.DEFINE_integer('latent_dim', 0, "z's dimension; 0 keeps configs/mixture2d.py's (2).")
flags.DEFINE_string('variant', '', "configs/mixture2d.py's variant: '' or 'baseline'.")
flags.DEFINE_list('decays', ['0.5', '0.75'], 'Fractions of the run where both rates drop 10x.')
flags.DEFINE_string('tag', '', 'Suffix of the output files (default: from the flags).')
FLAGS = flags.FLAGS

NUM_EVAL = 2500  # As VEEGAN.
MODES = {'ring8': (toy.ring_modes(), sources.RING_STD),
         'grid25': (toy.grid_modes(), sources.GRID_STD)}


def get_config(mixture, loss, k, seed, num_steps):
  config = mixture2d.get_config(f'{mixture},{FLAGS.variant}' if FLAGS.variant else mixture)
  config.loss, config.num_d_steps, config.seed = loss, k, seed
  config.num_train_steps = num_steps
  config.latent_dim = FLAGS.latent_dim or config.latent_dim
  return config


def samples(config, state, num=NUM_EVAL, seed=0):
  """G's samples in data units (training-mode BatchNorm over batches of the training size)."""
  num_padded = -(-num // config.batch_size) * config.batch_size
  x = common.generator_samples(state, jax.random.PRNGKey(1000 + seed), num=num_padded,
                               batch_size=config.batch_size)
  return np.asarray(x)[:num] * config.dataset.scale


def train_one(config, stages, decays):
  """Trains one run; returns the final metrics and the samples at each stage.

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
  return toy.mode_metrics(snapshots[-1][1], modes, std), snapshots


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
        ax.set_title(f'step {step}', fontsize=8)
      if c == 0:
        ax.set_ylabel(name, fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=70)
  plt.close(fig)


def main(argv):
  del argv
  os.makedirs(FLAGS.out, exist_ok=True)
  n = FLAGS.num_steps
  decays = sorted(int(float(f) * n) for f in FLAGS.decays)
  stages = sorted({n // 20, n // 4, n // 2, n, *decays})
  tag = FLAGS.tag or '_'.join(FLAGS.mixtures) + (
      f'_z{FLAGS.latent_dim}' if FLAGS.latent_dim else '') + (
      f'_{FLAGS.variant}' if FLAGS.variant else '')
  results = []
  for mixture in FLAGS.mixtures:
    figure_runs = []
    for loss, k in [(r.split(':')[0], int(r.split(':')[1])) for r in FLAGS.runs]:
      for seed in range(FLAGS.seeds):
        t = time.time()
        config = get_config(mixture, loss, k, seed, n)
        metrics, snaps = train_one(config, stages, decays)
        results.append({'mixture': mixture, 'loss': loss, 'k': k, 'seed': seed, **metrics,
                        'seconds': time.time() - t})
        print(json.dumps(results[-1]), flush=True)
        if seed == 0:
          figure_runs.append((f'{loss}, k={k}', snaps))
    plot(mixture, figure_runs, os.path.join(FLAGS.out, f'scatter_{mixture}_{tag}.png'))
  with open(os.path.join(FLAGS.out, f'results_{tag}.json'), 'w') as f:
    json.dump(results, f, indent=1)
  lines = ['| mixture | G loss | k | modes (mean, per seed) | high quality % (mean) | KL (mean) |',
           '|---|---|---|---|---|---|']
  for key, group in itertools.groupby(results, lambda r: (r['mixture'], r['loss'], r['k'])):
    group = list(group)
    modes = [g['modes'] for g in group]
    lines.append(f'| {key[0]} | {key[1]} | {key[2]} | {np.mean(modes):.1f} of '
                 f'{group[0]["num_modes"]} ({", ".join(map(str, modes))}) | '
                 f'{100 * np.mean([g["high_quality"] for g in group]):.1f} | '
                 f'{np.mean([g["kl"] for g in group]):.3f} |')
  with open(os.path.join(FLAGS.out, f'table_{tag}.md'), 'w') as f:
    f.write('\n'.join(lines) + '\n')
  print('\n'.join(lines))


if __name__ == '__main__':
  app.run(main)
