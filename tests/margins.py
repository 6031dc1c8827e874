"""Measures, over seeds, every training outcome that a test asserts with a bound (not collected).

  python -m tests.margins toy1d steps toolbox --seeds=0,1,2,3,4,5

A GAN trajectory is chaotic and XLA:CPU rounds differently on AVX2 and AVX-512 cores, so the
same seed ends elsewhere on another machine. A test's bound must therefore hold over many seeds
with room to spare: this prints each measured quantity per seed, its worst value and the test's
bound, and the margin between them: bound / worst for upper bounds, worst / bound for lower ones,
and (1 - bound) / (1 - worst) for lower bounds on a probability (`>p`), whose room is up to 1.
"""
import argparse

import numpy as np

from configs import default
from gan_jax import input_pipeline
from tests import test_consistency
from tests import test_steps
from tests import test_toolbox
from tests import test_toy1d

# name -> (measure(seed) -> {quantity: value}, {quantity: ('<' or '>', the test's bound)}).


def _toy1d(seed):
  before, after = test_toy1d.short_joint_run(seed)
  return {'prop1 max|D-D*|': test_toy1d.proposition1_error(seed),
          'jsd before': before['jsd'], 'jsd after/before': after['jsd'] / before['jsd'],
          '|V+log4|': abs(after['V_plus_log4']),
          'max|D-D*|': after['max_abs_d_minus_dstar'],
          '|g_std-0.15|': abs(after['g_std'] - 0.15)}


def _steps(seed):
  data = _mnist()
  out = {}
  for pack in (1, 4):
    ratio, m = test_steps.d_alone(data, seed=seed, pack=pack)
    out[f'd ratio pack{pack}'] = ratio
    out[f'd_real pack{pack}'] = float(m['d_real'])
    out[f'd_fake pack{pack}'] = float(m['d_fake'])
  for loss in ('non_saturating', 'minimax'):
    out[f'g rise {loss}'] = test_steps.g_alone(data, loss, seed=seed)
  out['r1 flat/free'], out['r1 d_real'] = test_steps.r1_flatness(data, seed=seed)
  return out


def _toolbox(seed):
  return {'gp ratio': test_toolbox.gradient_penalty_ratio(_mnist(), seed=seed),
          'cr ratio': test_consistency.consistency_ratio(_mnist(), seed=seed)}


_DATA = {}


def _mnist():
  if 'mnist' not in _DATA:
    _DATA['mnist'] = input_pipeline.load_split(default.get_config().dataset)
  return _DATA['mnist']


MEASURES = {
    'toy1d': (_toy1d, {'prop1 max|D-D*|': ('<', test_toy1d.PROP1_BOUND),
                       'jsd before': ('>', 0.1), 'jsd after/before': ('<', 0.1),
                       '|V+log4|': ('<', 0.08), '|g_std-0.15|': ('<', 0.04)}),
    'steps': (_steps, {'d ratio pack1': ('<', 0.6), 'd ratio pack4': ('<', 0.6),
                       'd_real pack1': ('>p', 0.8), 'd_real pack4': ('>p', 0.8),
                       'd_fake pack1': ('<', 0.5), 'd_fake pack4': ('<', 0.5),
                       'g rise non_saturating': ('>', 0.025), 'g rise minimax': ('>', 0.025),
                       'r1 flat/free': ('<', 0.5), 'r1 d_real': ('>p', 0.5)}),
    'toolbox': (_toolbox, {'gp ratio': ('<', test_toolbox.GP_RATIO_BOUND),
                           'cr ratio': ('<', test_consistency.CR_RATIO_BOUND)}),
}


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('groups', nargs='*', default=sorted(MEASURES))
  parser.add_argument('--seeds', default='0,1,2,3,4,5')
  args = parser.parse_args()
  seeds = [int(s) for s in args.seeds.split(',')]
  for group in args.groups:
    measure, bounds = MEASURES[group]
    rows = {seed: measure(seed) for seed in seeds}
    print(f'\n## {group}\n')
    print('| quantity | ' + ' | '.join(f'seed {s}' for s in seeds) +
          ' | worst | test bound | margin |')
    print('|---' * (len(seeds) + 4) + '|')
    for name in rows[seeds[0]]:
      values = np.array([rows[s][name] for s in seeds])
      op, bound = bounds.get(name, (None, None))
      if op is None:
        worst, margin, shown = values.max(), '', ''
      else:
        worst = values.max() if op == '<' else values.min()
        margin = {'<': bound / worst, '>': worst / bound,
                  '>p': (1 - bound) / max(1 - worst, 1e-12)}[op]
        margin, shown = f'{margin:.1f}x', f'{op[0]} {bound:g}'
      print(f'| {name} | ' + ' | '.join(f'{v:.4g}' for v in values) +
            f' | {worst:.4g} | {shown} | {margin} |', flush=True)


if __name__ == '__main__':
  main()
