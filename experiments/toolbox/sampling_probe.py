"""Sampling-time choices for a trained run's EMA generator, ranked by the classifier metrics on
10,000 samples (the z seed and cluster labels of `gan_jax.evaluate`, so the "prior" row is the
evaluation's own): z scaled by psi (another form of truncation than `--truncation`), and the
standing BatchNorm statistics (`ema.sampling_state`) from labels in turn (the default) or by the
clusters' shares, from 2,048 or 8,192 samples.

  python experiments/toolbox/sampling_probe.py \\
      --workdir=/work/results/sota_clusters30_ema9995_mnist_s0_17k --out=/tmp/sampling.json
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..'))

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from gan_jax import checkpoints, clusters, ema, evaluate  # noqa: E402
from gan_jax.evaluation import classifier_metrics  # noqa: E402

NUM = 10_000


def scored(config, state, reference, *, psi=1.0):
  """Classifier metrics of G on the evaluation's z (times psi) and labels."""
  z, labels = evaluate.latents(state, NUM, seed=0)
  samples = evaluate.generate(state, z * np.float32(psi), labels)
  r = classifier_metrics.evaluate(samples, classifier=config.dataset.name, reference=reference,
                                  labels=None)
  return {k: round(float(v), 4) for k, v in r.items()}


def standing(state, labels_by: str, num: int):
  """The EMA G with standing statistics from `num` samples, labels in turn or by the shares."""
  z, in_turn = ema.standing_latents(state, num)
  labels = in_turn
  if labels_by == 'shares':
    labels = jnp.asarray(np.random.default_rng(0).permutation(
        clusters.stratified_labels(np.asarray(state.label_probs), num)))
  stats = ema.standing_batch_stats(state, state.g_ema_params, z, labels)
  return state.replace(g_params=state.g_ema_params, g_batch_stats=stats)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--workdir', required=True)
  parser.add_argument('--psis', default='0.9,0.95,1.05,1.1')
  parser.add_argument('--out', default=None)
  args = parser.parse_args()
  config, state = checkpoints.load_workdir(args.workdir, use_ema=False)
  if not state.g_ema_params or isinstance(state.label_probs, dict):
    raise SystemExit('sampling_probe.py needs a run with an EMA of G and clusters.')
  reference = evaluate._split_images(config, config.dataset.eval_split)[:NUM]  # noqa: SLF001
  rows = []
  for labels_by, num in (('turn', ema.STANDING_BATCH), ('shares', ema.STANDING_BATCH),
                         ('shares', 4 * ema.STANDING_BATCH)):
    rows.append({'standing': f'{labels_by}, {num}', 'psi': 1.0,
                 **scored(config, standing(state, labels_by, num), reference)})
    print(json.dumps(rows[-1]), flush=True)
  default = ema.sampling_state(state)
  for psi in (float(p) for p in args.psis.split(',')):
    rows.append({'standing': f'turn, {ema.STANDING_BATCH}', 'psi': psi,
                 **scored(config, default, reference, psi=psi)})
    print(json.dumps(rows[-1]), flush=True)
  if args.out:
    with open(args.out, 'w') as f:
      json.dump(rows, f, indent=1)


if __name__ == '__main__':
  main()
