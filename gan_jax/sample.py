"""Latent-space tools on a trained workdir: grids, interpolations, vector arithmetic, neighbours.

  python -m gan_jax.sample --workdir=DIR --mode=grid [--z=fixed|new] [--seed=0] [--truncation=2]
  python -m gan_jax.sample --workdir=DIR --mode=interpolate [--num_rows=4] [--num_steps=10]
  python -m gan_jax.sample --workdir=DIR --mode=arithmetic [--groups=LABEL_A,LABEL_B,LABEL_C]
  python -m gan_jax.sample --workdir=DIR --mode=arithmetic --groups="3 7 12;4 9 30;1 2 5"
  python -m gan_jax.sample --workdir=DIR --mode=nearest

The run's config is read from DIR/config.json (written by the trainer) and its latest checkpoint
is restored with checkpoints.load_workdir. PNGs go to DIR/latent/<mode>.png unless --out is set.

Arithmetic is the DCGAN recipe (Radford et al. 2016, Section 6.3): average the z of a few samples
per group, show G(mean z(A) - mean z(B) + mean z(C)) and the same with small noise added to it.
Groups are, by what `--groups` holds:
  - three labels (`A,B,C`): for a conditional model, z drawn with those labels (the result uses
    C's label); for an unconditional one, samples that the data set's committed classifier
    (`gan_jax.evaluation.classifier`: MNIST, Fashion-MNIST) labels A, B, C;
  - three `;`-separated lists of sample indices into `--mode=grid --z=new` with the same --seed.
Without `--groups`, the paper's 7 - 1 + 4 by label where labels can be had (a conditional model,
or a committed classifier for the data set).
"""
import json
import os
from typing import List, Optional

from absl import app
from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import checkpoints
from gan_jax import data_dir
from gan_jax import errors
from gan_jax import images
from gan_jax import input_pipeline
from gan_jax import steps

FLAGS = flags.FLAGS


def load_state(workdir: str, *, raw_generator: bool = False):
  """(config, data, state) with the latest checkpoint of `workdir` restored; its G is the EMA
  generator when the run keeps one, unless `raw_generator`."""
  config, state = checkpoints.load_workdir(workdir, use_ema=not raw_generator)
  data = input_pipeline.load_split(config.dataset, image_size=config.image_size or None)
  return config, data, state


def generate(state, z, labels=None) -> np.ndarray:
  """G in inference mode (BatchNorm running statistics), in [-1, 1]."""
  return np.asarray(steps.generate_samples(state, jnp.asarray(z), None if labels is None else
                                           jnp.asarray(labels, jnp.int32)))


def new_latents(state, num: int, seed: int, truncation: float = 0.0) -> np.ndarray:
  return np.asarray(steps.sample_latent(jax.random.PRNGKey(seed), num, state.latent_dim,
                                        state.prior, truncation))


def slerp(z0, z1, t):
  """Spherical interpolation (White 2016): follows the shell where Gaussian latents live."""
  cos = np.sum(z0 * z1, -1, keepdims=True) / (
      np.linalg.norm(z0, axis=-1, keepdims=True) * np.linalg.norm(z1, axis=-1, keepdims=True))
  omega = np.arccos(np.clip(cos, -1.0, 1.0))
  so = np.sin(omega)
  so = np.where(so < 1e-6, 1.0, so)
  out = (np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / so
  return np.where(np.sin(omega) < 1e-6, (1 - t) * z0 + t * z1, out)


def grid(config, state, mode_z: str, side: int, seed: int, truncation: float = 0.0) -> np.ndarray:
  """New z (`truncation` > 0: within [-T, T]) or the training grid's fixed z."""
  if mode_z == 'fixed':
    z, labels = images.fixed_latents(config, state)
    return images.make_grid(generate(state, z, labels), nrow=config.sample_grid_size)
  if state.num_classes:  # One row per class, the same z down each column.
    rows = min(state.num_classes, 10)
    z = np.tile(new_latents(state, side, seed, truncation), (rows, 1))
    return images.make_grid(generate(state, z, np.repeat(np.arange(rows), side)), nrow=side)
  return images.make_grid(generate(state, new_latents(state, side * side, seed, truncation)),
                          nrow=side)


def interpolate(state, num_pairs: int, num_steps: int, seed: int) -> np.ndarray:
  """Rows: for each random pair, linear interpolation, then spherical interpolation."""
  z = new_latents(state, 2 * num_pairs, seed)
  t = np.linspace(0, 1, num_steps)[:, None]
  labels = np.random.default_rng(seed).integers(0, max(state.num_classes, 1), num_pairs)
  rows = []
  for i in range(num_pairs):
    z0, z1 = z[2 * i], z[2 * i + 1]
    for path in ((1 - t) * z0 + t * z1, slerp(z0[None], z1[None], t)):
      y = np.full(num_steps, labels[i]) if state.num_classes else None
      rows.append(generate(state, path.astype(np.float32), y))
  return images.make_grid(np.concatenate(rows), nrow=num_steps)


DEFAULT_GROUPS = '7,1,4'  # Radford et al.'s digits: a 7, minus the stroke of a 1, plus a 4.


def _parse_groups(spec: str):
  try:
    if ';' in spec:
      groups = [[int(i) for i in g.replace(',', ' ').split()] for g in spec.split(';')]
      if len(groups) == 3 and all(groups):
        return 'indices', groups
    else:
      labels = [int(x) for x in spec.split(',')]
      if len(labels) == 3:
        return 'labels', labels
  except ValueError:
    pass
  raise errors.ConfigError(f'--groups={spec!r}: it needs three groups, "A,B,C" labels or '
                           '"i j;k l;m n" sample indices.')


def _classifier_predict(config):
  """The committed classifier's predict(images) for the run's data set, else None."""
  try:
    from gan_jax.evaluation import classifier
    classify_params = classifier.load_classifier(config.dataset.name)
    return lambda x: classifier.predict(classify_params[1], x)
  except (ImportError, AttributeError, FileNotFoundError, ValueError):
    return None


def arithmetic(config, state, spec: str, per_group: int, seed: int) -> np.ndarray:
  """Rows A, B, C: their samples and, last, G(mean z); row 4: the result and noisy variants.

  An empty `spec` is DEFAULT_GROUPS by label.
  """
  kind, groups = _parse_groups(spec or DEFAULT_GROUPS)
  group_z: List[np.ndarray] = []
  group_labels: List[Optional[int]] = []
  if kind == 'indices':  # Indices into `--mode=grid --z=new --seed=seed`.
    side = per_group  # --num_rows, the side of the grid the indices refer to.
    pool = new_latents(state, max(side * side, 1 + max(max(g) for g in groups)), seed)
    if state.num_classes:
      raise errors.ConfigError('For a conditional model pick groups by label: --groups=A,B,C.')
    group_z = [pool[g] for g in groups]
    group_labels = [None] * 3
  elif state.num_classes:
    if not all(0 <= label < state.num_classes for label in groups):
      raise errors.ConfigError(f'--groups={groups}: labels of this model are 0 to '
                               f'{state.num_classes - 1}.')
    for i, label in enumerate(groups):
      group_z.append(new_latents(state, per_group, seed + i))
      group_labels.append(label)
  else:
    predict = _classifier_predict(config)
    if predict is None:
      raise errors.ConfigError('Picking groups by label needs a conditional model or a committed '
                               f'classifier for {config.dataset.name!r} (none here); pass sample '
                               'indices instead: --groups="i j k;l m n;o p q".')
    pool = new_latents(state, 2000, seed)
    predicted = np.asarray(predict(generate(state, pool)))
    for label in groups:
      chosen = pool[predicted == label][:per_group]
      if len(chosen) == 0:
        raise errors.ConfigError(f'No sample of 2000 is classified as {label}; pick other '
                                 'labels or sample indices with --groups.')
      group_z.append(chosen)
      group_labels.append(None)
  means = [z.mean(0) for z in group_z]
  result = means[0] - means[1] + means[2]
  noise = np.random.default_rng(seed).normal(0, 0.25, (per_group, result.shape[0]))
  rows = []
  width = max(len(z) for z in group_z) + 1
  blank = None
  for z, mean, label in zip(group_z, means, group_labels):
    zs = np.concatenate([z, mean[None]]).astype(np.float32)
    y = None if label is None else np.full(len(zs), label)
    imgs = generate(state, zs, y)
    blank = np.ones_like(imgs[:1])
    rows.append(np.concatenate([imgs[:-1]] + [blank] * (width - len(zs)) + [imgs[-1:]]))
  zs = np.concatenate([result[None], result[None] + noise[:width - 1]]).astype(np.float32)
  y = None if group_labels[2] is None else np.full(len(zs), group_labels[2])
  rows.append(generate(state, zs, y))
  if kind == 'labels' and not state.num_classes:  # What the classifier reads in the result row.
    print(json.dumps({'result_row_classified_as': np.asarray(predict(rows[-1])).tolist()}))
  return images.make_grid(np.concatenate(rows), nrow=width)


def nearest(config, state, data, out: str, seed: int = 0):
  """Delegates to gan_jax.evaluation.memorisation (nearest training images of samples)."""
  try:
    from gan_jax.evaluation import memorisation
  except ImportError:
    print('nearest: unavailable, gan_jax.evaluation.memorisation is not in this checkout.')
    return None
  samples = generate(state, new_latents(state, 256, seed),
                     np.arange(256) % state.num_classes if state.num_classes else None)
  train_images = input_pipeline.to_model_range(data['image'])
  heldout = None  # No held-out split (small face sets): leave-one-out distances instead.
  if config.dataset.eval_split != config.dataset.split:
    try:
      heldout = input_pipeline.to_model_range(input_pipeline.load_split(
          config.dataset, split=config.dataset.eval_split,
          image_size=config.image_size or None)['image'][:1000])  # As evaluate.py: 1k is enough.
    except (data_dir.DataUnavailableError, ValueError):
      pass
  report = memorisation.memorisation_report(samples, train_images, heldout, png_path=out)
  report['reference'] = 'held-out split' if heldout is not None else 'leave-one-out (train)'
  report['num_samples'], report['num_train'] = len(samples), len(train_images)
  print(json.dumps(report, indent=2))
  return report


def run(workdir: str, mode: str, *, out: str = '', seed: int = 0, z: str = 'new',
        num_rows: int = 6, num_steps: int = 10, groups: str = '', raw_generator: bool = False,
        truncation: float = 0.0):
  """The tool `mode` on the latest checkpoint of `workdir`; writes its PNG to `out`."""
  config, data, state = load_state(workdir, raw_generator=raw_generator)
  out = out or os.path.join(workdir, 'latent', f'{mode}.png')
  if mode == 'nearest':
    nearest(config, state, data, out, seed)
    return
  if mode == 'grid':
    picture = grid(config, state, z, num_rows, seed, truncation)
  elif mode == 'interpolate':
    picture = interpolate(state, num_rows, num_steps, seed)
  else:
    picture = arithmetic(config, state, groups, num_rows, seed)
  images.save_png(out, picture)
  print(f'Wrote {out}')


def main(argv):
  del argv
  logging.get_absl_handler().addFilter(checkpoints.QuietOrbax())
  errors.run_or_exit(run, FLAGS.workdir, FLAGS.mode, out=FLAGS.out, seed=FLAGS.seed, z=FLAGS.z,
                     num_rows=FLAGS.num_rows, num_steps=FLAGS.num_steps, groups=FLAGS.groups,
                     raw_generator=FLAGS.raw_generator, truncation=FLAGS.truncation)


if __name__ == '__main__':
  # Flags only when run as a program: tests import this module beside gan_jax.main's flags.
  flags.DEFINE_string('workdir', None, 'A training workdir (config.json and checkpoints/).')
  flags.DEFINE_enum('mode', 'grid', ['grid', 'interpolate', 'arithmetic', 'nearest'], 'Tool.')
  flags.DEFINE_string('out', None, 'PNG path; default WORKDIR/latent/<mode>.png.')
  flags.DEFINE_integer('seed', 0, 'Seed of the new latents.')
  flags.DEFINE_enum('z', 'new', ['new', 'fixed'], 'grid: new z (from --seed) or the training grid z.')
  flags.DEFINE_integer('num_rows', 6, 'grid: side; interpolate: pairs; arithmetic: samples/group.')
  flags.DEFINE_integer('num_steps', 10, 'interpolate: images per row.')
  flags.DEFINE_string('groups', '', 'arithmetic: "A,B,C" labels or "i j k;l m n;o p q" '
                      f'indices; default {DEFAULT_GROUPS} by label.')
  flags.DEFINE_bool('raw_generator', False, 'Use the raw G, not its moving average (runs with '
                    'config.ema).')
  flags.DEFINE_float('truncation', 0.0, 'grid --z=new: z entries drawn within [-T, T] (BigGAN\'s '
                     'truncation trick); 0: off.')
  flags.mark_flags_as_required(['workdir'])
  app.run(main)
