"""Evaluates a training workdir's checkpoint: FID/KID/precision-recall, classifier metrics and
the memorisation check. The trainer calls `evaluate` too (config.eval), with a cheap default.

  python -m gan_jax.evaluate --workdir=/tmp/dcgan                      # 10k samples, all metrics
  python -m gan_jax.evaluate --workdir=/tmp/dcgan --num_samples=2000 --metrics=classifier
  python -m gan_jax.evaluate --workdir=/tmp/dcgan --step=5000 --metrics=inception,memorisation

Writes WORKDIR/eval/step_<N>/metrics.json (with the protocol), the neighbour PNG and a sample
grid, TensorBoard scalars `eval/<metric>` in WORKDIR, and prints a table. Nothing is downloaded:
the Inception weights come from $GAN_JAX_DATA_DIR (or ../shared/data), the classifiers are
package data.

G is the run's EMA generator when it keeps one (gan_jax/ema.py), else the raw G; --raw_generator
evaluates the raw G of such a run (into eval/step_<N>_raw); --truncation=T draws z within [-T, T]
(BigGAN's truncation trick; into eval/step_<N>_trunc<T>).

Protocol (README, "Evaluation"): `num_samples` samples from G in inference mode (z from the
config's prior with --seed; a conditional G gets labels 0, 1, ..., 9, 0, ... in turn, one
conditioned on clusters (config.clusters) each cluster in proportion to its share) against
the first `num_samples` images of the dataset's eval split (config.dataset.eval_split, at the
training resolution), features of the FID Inception-V3 (TF 2015 weights) after a bilinear
resize to 299x299; statistics in float64. See gan_jax/evaluation/fid.py.
"""
import functools
import json
import os
import time
from typing import Any, Dict, Optional, Sequence

from absl import app
from absl import flags
from absl import logging
import jax
import ml_collections
import numpy as np

from gan_jax import batching
from gan_jax import checkpoints
from gan_jax import clusters
from gan_jax import errors
from gan_jax import evaluation
from gan_jax import images
from gan_jax import input_pipeline
from gan_jax import steps
from gan_jax import summary

METRICS = evaluation.METRICS


def latents(state: steps.GANState, num: int, *, seed: int = 0, truncation: float = 0.0):
  """(z (num, latent_dim), labels or None) of the protocol's samples: z from the prior with
  `seed`, truncated at `truncation` (> 0; `steps.sample_latent`); labels 0, 1, ... in turn, or
  for clusters in proportion to their shares."""
  labels = (np.arange(num) % state.num_classes).astype(np.int32) if state.num_classes else None
  if not isinstance(state.label_probs, dict):  # Clusters: in proportion to their shares,
    # shuffled: the classifier score's splits are consecutive and must each see every cluster.
    labels = np.random.default_rng(seed).permutation(
        clusters.stratified_labels(np.asarray(state.label_probs), num))
  z = np.asarray(steps.sample_latent(jax.random.PRNGKey(seed), num, state.latent_dim,
                                     state.prior, truncation))
  return z, labels


def generate_samples(state: steps.GANState, num: int, *, seed: int = 0, batch_size: int = 500,
                     truncation: float = 0.0):
  """(samples (num, H, W, C) float32 in [-1, 1], labels or None) from G in inference mode, of
  `latents`.

  Fixed-size batches through the one compiled sampler, so any `num` compiles one program.
  """
  z, labels = latents(state, num, seed=seed, truncation=truncation)
  return generate(state, z, labels, batch_size=batch_size), labels


def generate(state: steps.GANState, z, labels=None, *, batch_size: int = 500) -> np.ndarray:
  """G(z | labels) in inference mode, float32 in [-1, 1], in fixed-size batches."""
  samples = batching.map_in_batches(functools.partial(steps.generate_samples, state), z, labels,
                                    batch_size=batch_size)
  return np.asarray(samples, np.float32)


def classifier_for(config) -> Optional[str]:
  """The committed classifier's name for the run's dataset, or None (then no classifier metrics)."""
  from gan_jax.evaluation import classifier
  name = config.dataset.name
  return name if classifier.weights_path(name).exists() else None


def reference_source(config, split: str, reference: np.ndarray) -> Dict[str, Any]:
  """What makes the reference images what they are, the key of their cached FID statistics:
  the data set, split, count, the size they reach and how (bilinear resize or padding)."""
  return {'dataset': config.dataset.name, 'split': split, 'count': len(reference),
          'shape': list(reference.shape[1:]), 'image_size': config.get('image_size') or None,
          'resize': config.dataset.get('resize', 'bilinear')}


def _split_images(config, split):
  return _cached_split(config.dataset.to_json(), split, config.get('image_size') or None)


@functools.lru_cache(maxsize=2)  # Evaluations during training reuse the reference images.
def _cached_split(dataset_json, split, image_size):
  dataset = ml_collections.ConfigDict(json.loads(dataset_json))
  data = input_pipeline.load_split(dataset, split=split, image_size=image_size)
  return input_pipeline.to_model_range(data['image'])


def evaluate(config, state: steps.GANState, *, num_samples: int,
             metrics: Sequence[str] = METRICS, seed: int = 0, out_dir: Optional[str] = None,
             progress: bool = True, reference: Optional[np.ndarray] = None,
             train_images: Optional[np.ndarray] = None, truncation: float = 0.0
             ) -> Dict[str, Any]:
  """The chosen metrics of `state`'s generator as a flat dict of floats.

  `reference` (real held-out images in [-1, 1]) and `train_images` default to the config's eval
  and train splits; the trainer passes them so they are loaded once per run.
  """
  metrics = evaluation.parse_metrics(metrics)
  t0 = time.time()
  samples, labels = generate_samples(state, num_samples, seed=seed, truncation=truncation)
  eval_split = config.dataset.get('eval_split', 'test')
  clf = classifier_for(config)
  out: Dict[str, Any] = {'num_samples': num_samples}
  if reference is None and (set(metrics) - {'classifier'} or clf):
    reference = _split_images(config, eval_split)
  if reference is not None:
    reference = reference[:num_samples]
    out['num_reference'] = len(reference)

  if 'inception' in metrics:
    from gan_jax.evaluation import fid
    ref = fid.reference_statistics(
        lambda: fid.extract_features(reference, progress=progress),
        source=reference_source(config, eval_split, reference))
    fake = fid.extract_features(samples, progress=progress)
    out.update(fid.all_metrics(ref['features'], fake))
  if 'classifier' in metrics and clf:
    from gan_jax.evaluation import classifier_metrics
    # Clusters are not the classifier's classes: no label accuracy.
    out.update(classifier_metrics.evaluate(samples, classifier=clf, reference=reference,
                                           labels=None if config.get('clusters') else labels))
  if 'memorisation' in metrics:
    from gan_jax.evaluation import memorisation
    if train_images is None:
      train_images = _split_images(config, config.dataset.split)
    png = os.path.join(out_dir, 'nearest.png') if out_dir else None
    # A set with no held-out split (Olivetti: eval_split == split) would compare the training
    # set with itself (distance 0); None makes the report use leave-one-out distances instead.
    heldout = None if eval_split == config.dataset.split else reference[:1000]
    out.update(memorisation.memorisation_report(samples[:1000], train_images, heldout,
                                                classifier=clf, png_path=png))
  out['eval_seconds'] = round(time.time() - t0, 1)
  if out_dir:
    side = 10 if state.num_classes else 8
    images.save_png(os.path.join(out_dir, 'samples.png'),
                    images.make_grid(samples[:side * side], nrow=side))
  return out


def format_table(results: Dict[str, Any]) -> str:
  width = max(map(len, results))
  return '\n'.join(f'{k:<{width}}  {v:.4f}' if isinstance(v, float) else f'{k:<{width}}  {v}'
                   for k, v in results.items())


def eval_dir(workdir: str, step: int, raw_generator: bool = False,
             truncation: float = 0.0) -> str:
  """WORKDIR/eval/step_<N>: the results of the run's sampling generator at step N (the EMA G where
  the run keeps one), which sweep tables read; step_<N>_raw: the raw G's (`--raw_generator`);
  a suffix _trunc<T> for truncated latents, which never stand in for the prior's results."""
  return os.path.join(workdir, 'eval', f'step_{step:07d}' + _variant(raw_generator, truncation))


def _variant(raw_generator: bool, truncation: float) -> str:
  """The suffix of an evaluation that is not the default one, for its folder and its scalars."""
  return ('_raw' if raw_generator else '') + (f'_trunc{truncation:g}' if truncation else '')


def write_results(workdir: str, step: int, results: Dict[str, Any], protocol: Dict[str, Any],
                  out_dir: Optional[str] = None, tag: str = 'eval'):
  """OUT_DIR/metrics.json (default WORKDIR/eval/step_<N>) and TensorBoard scalars <tag>/<name>
  (process 0)."""
  if jax.process_index() != 0:
    return
  out_dir = out_dir or eval_dir(workdir, step)
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, 'metrics.json'), 'w') as f:
    json.dump({'step': step, **results, 'protocol': protocol}, f, indent=2)
  writer = summary.SummaryWriter(os.path.join(workdir, 'eval'))
  writer.write_scalars(step, {f'{tag}/{k}': v for k, v in results.items()
                              if isinstance(v, (int, float))})
  writer.close()


def protocol(config, *, num_samples: int, seed: int, metrics,
             truncation: float = 0.0) -> Dict[str, Any]:
  from gan_jax.evaluation import fid
  return {'dataset': config.dataset.name, 'reference_split': config.dataset.get('eval_split'),
          'num_samples': num_samples, 'seed': seed, 'metrics': list(metrics),
          'truncation': truncation,
          'fid_protocol': fid.PROTOCOL_VERSION, 'classifier': classifier_for(config)}


def run(workdir: str, *, step: Optional[int], num_samples: int, metrics: str, seed: int,
        raw_generator: bool = False, truncation: float = 0.0):
  """Evaluates a workdir's checkpoint (default the latest), writes and prints the results.
  The EMA generator when the run keeps one, unless `raw_generator`."""
  metrics = evaluation.parse_metrics(metrics)
  if num_samples <= 0:
    raise errors.ConfigError(f'--num_samples={num_samples} must be positive.')
  if truncation < 0:
    raise errors.ConfigError(f'--truncation={truncation} must be >= 0 (0: off).')
  config, state = checkpoints.load_workdir(workdir, step=step, use_ema=not raw_generator)
  generator = 'ema' if state.g_ema_params and not raw_generator else 'raw'
  step = int(state.step)
  out_dir = eval_dir(workdir, step, raw_generator, truncation)
  os.makedirs(out_dir, exist_ok=True)
  logging.info('Evaluating %s at step %d: %s on %d samples', workdir, step, ','.join(metrics),
               num_samples)
  results = evaluate(config, state, num_samples=num_samples, metrics=metrics, seed=seed,
                     out_dir=out_dir, truncation=truncation)
  write_results(workdir, step, results, {
      **protocol(config, num_samples=num_samples, seed=seed, metrics=metrics,
                 truncation=truncation),
      'generator': generator}, out_dir=out_dir, tag='eval' + _variant(raw_generator, truncation))
  print(f'step {step}\n{format_table(results)}')
  print(f'Wrote {os.path.join(out_dir, "metrics.json")}')


def main(argv):
  del argv
  logging.get_absl_handler().addFilter(checkpoints.QuietOrbax())
  flags_ = flags.FLAGS
  errors.run_or_exit(run, flags_.workdir, step=flags_.step, num_samples=flags_.num_samples,
                     metrics=flags_.metrics, seed=flags_.seed,
                     raw_generator=flags_.raw_generator, truncation=flags_.truncation)


if __name__ == '__main__':
  # Flags only when run as a program: the trainer imports this module beside its own flags.
  flags.DEFINE_string('workdir', None, 'A training workdir (config.json and checkpoints/).')
  flags.DEFINE_integer('step', None, 'Checkpoint step; default the latest.')
  flags.DEFINE_integer('num_samples', 10_000, 'Generated samples (and reference images).')
  flags.DEFINE_string('metrics', ','.join(METRICS), f'Comma-separated subset of {METRICS}.')
  flags.DEFINE_integer('seed', 0, 'Seed of the latents.')
  flags.DEFINE_bool('raw_generator', False, 'Evaluate the raw G, not its moving average (runs '
                    'with config.ema; results go to eval/step_<N>_raw).')

  flags.DEFINE_float('truncation', 0.0, 'The truncation trick: z entries drawn within '
                     '[-T, T] (BigGAN); 0: off. Results go to eval/step_<N>_trunc<T>.')
  flags.mark_flags_as_required(['workdir'])
  app.run(main)
