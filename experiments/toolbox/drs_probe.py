"""Discriminator rejection sampling (Azadi et al. 2019; gan_jax/rejection.py) of a trained MNIST
run, ranked with the classifier metrics on 10,000 accepted samples.

  python experiments/toolbox/drs_probe.py --workdir=/work/results/sota_infogan_glr1e3_mnist_s0 \\
      --d_steps=500 --out=/tmp/drs.json

D is first trained alone against the run's sampling generator (the EMA G), `--d_steps` d_steps on
fresh training batches, as DRS needs. G's proposals are drawn in inference mode (what
`gan_jax.evaluate` scores). D's logits come in inference mode (`--logits=eval`, BatchNorm's
running statistics) or, per batch of 64 proposals, in training mode (`--logits=train`, batch
statistics: how D saw fakes in its steps). Each gamma keeps a sample with Azadi et al.'s
probability sigmoid(F - gamma), M the largest logit seen.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..'))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from gan_jax import checkpoints, evaluate, input_pipeline, rejection, steps  # noqa: E402
from gan_jax.evaluation import classifier_metrics  # noqa: E402

BATCH = 64


def fit_discriminator(state, x, num_steps, batch_size):
  """D trained alone against the state's G (one jitted d_step per call: a lax.scan of the DCGAN's
  steps runs ~13x slower on XLA:CPU, experiments/benchmarks/results.md)."""
  @jax.jit
  def one(state, i):
    idx = jax.random.randint(jax.random.fold_in(jax.random.PRNGKey(11), i), (batch_size,), 0,
                             x.shape[0])
    return steps.d_step(state, {'image': x[idx]}, rng=jax.random.fold_in(jax.random.PRNGKey(7), i))
  history = []
  for i in range(num_steps):
    state, metrics = one(state, i)
    history.append(metrics)
  last = jax.device_get(history[-50:])
  return state, {k: float(np.mean([m[k] for m in last])) for k in ('d_loss', 'd_real_acc',
                                                                    'd_fake_acc')}


def logits_fn(state, mode):
  variables = {'params': state.d_params, 'batch_stats': state.d_batch_stats}
  apply = jax.jit(lambda x: state.discriminator.apply(
      variables, x, None, train=mode == 'train', mutable=['batch_stats', 'intermediates'])[0])
  return lambda xs: np.concatenate([np.asarray(apply(jnp.asarray(xs[i:i + BATCH])))
                                    for i in range(0, len(xs), BATCH)])


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--workdir', required=True)
  parser.add_argument('--d_steps', type=int, default=500)
  parser.add_argument('--logits', choices=['eval', 'train'], default='train')
  parser.add_argument('--proposals', type=int, default=100_032)  # A multiple of BATCH.
  parser.add_argument('--gammas', default='0,-2,-4,-6,-8')
  parser.add_argument('--out', required=True)
  args = parser.parse_args()
  config, state = checkpoints.load_workdir(args.workdir, use_ema=True)
  x = jnp.asarray(input_pipeline.load_split(config.dataset)['image'])
  t0 = time.time()
  state, fit = fit_discriminator(state, x, args.d_steps, config.batch_size)
  out = {'workdir': args.workdir, 'd_steps': args.d_steps, 'logits': args.logits,
         'fit': fit, 'fit_seconds': round(time.time() - t0, 1), 'rows': []}
  print(out, flush=True)
  proposals, _ = evaluate.generate_samples(state, args.proposals, seed=1)
  logits = logits_fn(state, args.logits)(proposals)
  real = logits_fn(state, args.logits)(np.asarray(x[:10_048]))
  out['fake_logit_pct_5_50_95'] = np.percentile(logits, [5, 50, 95]).tolist()
  out['real_logit_pct_5_50_95'] = np.percentile(real, [5, 50, 95]).tolist()
  print({k: v for k, v in out.items() if 'pct' in k}, flush=True)
  reference = evaluate._split_images(config, 'test')[:10_000]  # pylint: disable=protected-access
  uniform = np.random.default_rng(0).uniform(size=len(logits))
  for gamma in [None] + [float(g) for g in args.gammas.split(',')]:
    if gamma is None:
      kept = np.ones(len(logits), bool)
    else:
      kept = uniform < np.asarray(rejection.acceptance_probability(logits, logits.max(), gamma))
    row = {'gamma': gamma, 'acceptance': float(kept.mean())}
    if kept.sum() >= 10_000:
      samples = proposals[kept][:10_000]
      row.update(classifier_metrics.evaluate(samples, classifier='mnist', reference=reference))
      clf_logits, _ = classifier_metrics.classifier_outputs(samples, classifier='mnist')
      p = jax.nn.softmax(clf_logits, axis=-1)
      shares = np.bincount(np.argmax(clf_logits, -1), minlength=10) / len(samples)
      row.update(unsure=float(np.mean(np.max(p, -1) < 0.9)), digit_share_min=float(shares.min()),
                 digit_share_max=float(shares.max()))
    print(row, flush=True)
    out['rows'].append(row)
  with open(args.out, 'w') as f:
    json.dump(out, f, indent=1)


if __name__ == '__main__':
  main()
