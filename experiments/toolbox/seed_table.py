"""The per-seed results table (markdown) of evaluated training workdirs, with mean and std over
seeds per data set.

  python experiments/toolbox/seed_table.py /work/results/sota_mnist_s0 /work/results/sota_mnist_s1

Reads each workdir's config.json and its latest eval/step_<N>/metrics.json (written by
`python -m gan_jax.evaluate`; the EMA generator's where the run keeps one).
"""
import argparse
import json
import os
import pathlib
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..'))

from gan_jax import sweep  # noqa: E402  (imports no jax)

COLUMNS = ('fid', 'kid', 'precision', 'recall', 'fcd', 'classifier_score')


def latest_metrics(workdir):
  path = sweep.newest_evaluation_file(str(workdir))  # Not an EMA run's step_<N>_raw/.
  if path is None:
    raise SystemExit(f'{workdir}: no eval/step_*/metrics.json; run gan_jax.evaluate first.')
  return json.loads(pathlib.Path(path).read_text())


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('workdirs', nargs='+', type=pathlib.Path)
  args = parser.parse_args()
  rows = []
  for workdir in args.workdirs:
    config = json.loads((workdir / 'config.json').read_text())
    rows.append((config['dataset']['name'], config['seed'], latest_metrics(workdir)))
  print('| data set | seed | steps | G | FID | KID | precision | recall | FCD | classifier score |')
  print('|---|---|---|---|---|---|---|---|---|---|')
  for name, seed, m in rows:
    cells = ['-' if c not in m else f'{m[c]:.4f}' if c == 'kid'
             else f'{m[c]:.3f}' if c in ('precision', 'recall') else f'{m[c]:.2f}'
             for c in COLUMNS]
    print(f'| {name} | {seed} | {m["step"]:,} | {m["protocol"]["generator"]} | '
          + ' | '.join(cells) + ' |')
  for name in sorted({r[0] for r in rows}):
    ms = [m for n, _, m in rows if n == name]
    if len(ms) > 1:
      cells = []
      for c in COLUMNS:
        values = [m[c] for m in ms if c in m]
        if len(values) < 2:
          cells.append('-')
          continue
        cells.append(f'{statistics.mean(values):.4g} +- {statistics.stdev(values):.2g}')
      print(f'| {name}, mean +- std of {len(ms)} | | | | ' + ' | '.join(cells) + ' |')


if __name__ == '__main__':
  main()
