"""The toolbox ablation on MNIST: DCGAN, then EMA of G, spectral norm + hinge, DiffAugment.

  python experiments/toolbox/ablation.py --steps=3000 --out=/tmp/ablation.jsonl
  python experiments/toolbox/ablation.py --variants=baseline,ema --seed=1

Each variant trains `--steps` generator steps of configs/dcgan.py with its overrides, then
evaluates the sampling generator (the EMA one where the run keeps it; the raw one too, for
comparison) with the classifier metrics on 10k samples. One JSON line per variant and generator
is appended to --out as soon as it is measured.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..'))

import jax  # noqa: E402

from configs import dcgan  # noqa: E402
from gan_jax import ema, evaluate, train  # noqa: E402

EMA = {'ema.decay': 0.999, 'ema.start_step': 1000}
SN_HINGE = {'dcgan.d_norm': 'spectral', 'loss': 'hinge'}
VARIANTS = {
    'baseline': {},
    'ema': EMA,
    'ema_no_g_bn': {**EMA, 'dcgan.g_batch_norm': False},
    'sn_hinge': SN_HINGE,
    'sn_hinge_ema': {**SN_HINGE, **EMA},
    'sn_hinge_ema_translation': {**SN_HINGE, **EMA, 'augment': 'translation'},
    'sn_hinge_ema_diffaugment': {**SN_HINGE, **EMA, 'augment': 'color,translation,cutout'},
    'ema_translation': {**EMA, 'augment': 'translation'},
}


def configure(overrides, steps, seed):
  config = dcgan.get_config()
  config.num_train_steps = steps
  config.seed = seed
  config.eval.every_steps = 0
  config.sample_every_steps = config.checkpoint_every_steps = steps
  config.update_from_flattened_dict(overrides)
  return config


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--variants', default='baseline,ema,sn_hinge,sn_hinge_ema,'
                      'sn_hinge_ema_diffaugment')
  parser.add_argument('--steps', type=int, default=3000)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--num_samples', type=int, default=10_000)
  parser.add_argument('--workdir', default='/tmp/toolbox_ablation')
  parser.add_argument('--out', default='/tmp/toolbox_ablation.jsonl')
  args = parser.parse_args()
  for name in args.variants.split(','):
    config = configure(VARIANTS[name], args.steps, args.seed)
    workdir = os.path.join(args.workdir, f'{name}_seed{args.seed}')
    t0 = time.time()
    state = train.train_and_evaluate(config, workdir)
    train_seconds = time.time() - t0
    generators = {'raw': state}
    if state.g_ema_params:
      generators['ema'] = ema.sampling_state(state)
    for generator, sampler in generators.items():
      results = evaluate.evaluate(config, sampler, num_samples=args.num_samples,
                                  metrics=('classifier',), seed=args.seed, progress=False)
      line = {'variant': name, 'generator': generator, 'seed': args.seed, 'steps': args.steps,
              'batch': config.batch_size, 'train_seconds': round(train_seconds, 1),
              **{k: v for k, v in results.items() if isinstance(v, (int, float))},
              'overrides': VARIANTS[name]}
      with open(args.out, 'a') as f:
        f.write(json.dumps(line) + '\n')
      print(json.dumps(line), flush=True)
  del jax


if __name__ == '__main__':
  main()
