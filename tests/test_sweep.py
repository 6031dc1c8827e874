"""The sweep runner: helpers, naming, dry run, a real 2-point run, skipping finished points."""
import os
import subprocess
import sys

import pytest

from gan_jax import evaluate
from gan_jax import sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWEEP = os.path.join(ROOT, 'tests', 'tiny_sweep.py')
CONFIG = 'configs/dcgan.py:runlocal'


def _sweep(workdir, *flags):
  proc = subprocess.run([sys.executable, '-m', 'gan_jax.sweep', f'--config={CONFIG}',
                         f'--sweep={SWEEP}', f'--workdir={workdir}', *flags], cwd=ROOT,
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc


def test_product_and_zip():
  points = sweep.product(sweep.sweep('a', [1, 2]), sweep.zip_(sweep.sweep('b', [3, 4]),
                                                              sweep.sweep('c', [5, 6])))
  assert points == [{'a': 1, 'b': 3, 'c': 5}, {'a': 1, 'b': 4, 'c': 6},
                    {'a': 2, 'b': 3, 'c': 5}, {'a': 2, 'b': 4, 'c': 6}]


def test_finished_and_unfinished_points(tmp_path):
  entries = sweep.plan(CONFIG, SWEEP, str(tmp_path))
  assert [e['name'] for e in entries] == ['loss=minimax,seed=0', 'loss=non_saturating,seed=1']
  assert '--config.loss=minimax' in entries[0]['cmd'] and not entries[0]['done']
  os.makedirs(tmp_path / 'loss=minimax,seed=0' / 'checkpoints' / '2')  # Unfinished: resume.
  os.makedirs(tmp_path / 'loss=minimax,seed=0' / 'checkpoints' / '4.orbax-checkpoint-tmp-1')
  assert not sweep.plan(CONFIG, SWEEP, str(tmp_path))[0]['done']
  os.makedirs(tmp_path / 'loss=minimax,seed=0' / 'checkpoints' / '4')
  assert sweep.plan(CONFIG, SWEEP, str(tmp_path))[0]['done']


@pytest.mark.slow  # ~21 s: two training subprocesses; planning is tested above.
def test_sweep_runs_points_writes_a_table_and_skips_finished_ones(tmp_path):
  dry = _sweep(tmp_path, '--dry_run').stdout.splitlines()
  assert len(dry) == 2 and all('-m gan_jax.main' in line for line in dry)
  assert not os.path.exists(tmp_path / 'loss=minimax,seed=0')  # A dry run runs nothing.

  _sweep(tmp_path, '--parallel=2', '--metric=fcd')
  table = open(tmp_path / 'results.md').read()
  assert table.count('| done |') == 2 and 'minimax' in table and 'non_saturating' in table
  header = open(tmp_path / 'results.csv').readline()
  assert 'g_loss' in header and 'fcd' in header  # metrics.json and the final evaluation.
  assert os.path.getsize(tmp_path / 'results_fcd.png') > 1000

  again = _sweep(tmp_path)
  assert again.stderr.count('finished, skipped') == 2 and '0 of 2 points' in again.stderr
  assert all(line.startswith('# done: ') for line in _sweep(tmp_path, '--dry_run').stdout
             .splitlines())


def test_table_reads_the_last_evaluation_and_states_shared_overrides_once(tmp_path):
  import json
  entries = sweep.plan(CONFIG, SWEEP, str(tmp_path))
  for e, fcd in zip(entries, (300.0, 200.0)):
    # Only the newest evaluation counts, and never the raw G's of an EMA run (step_<N>_raw).
    for step, raw, value in ((2, False, 999.0), (4, False, fcd), (4, True, 888.0)):
      out_dir = evaluate.eval_dir(e['workdir'], step, raw)
      os.makedirs(out_dir)
      with open(os.path.join(out_dir, 'metrics.json'), 'w') as f:
        json.dump({'step': step, 'num_samples': 200, 'fcd': value, 'protocol': {}}, f)
    with open(os.path.join(e['workdir'], 'metrics.json'), 'w') as f:
      json.dump({'step': 4, 'g_loss': 1.5}, f)
  rows = sweep.results(entries)
  assert [(r['fcd'], r['eval_step'], r['g_loss']) for r in rows] == [(300.0, 4, 1.5),
                                                                      (200.0, 4, 1.5)]
  sweep.write_results(rows, str(tmp_path), 'fcd', {'num_train_steps': 4, 'log_every_steps': 2})
  table = open(tmp_path / 'results.md').read().splitlines()
  assert table[0] == 'All points: num_train_steps=4, log_every_steps=2'
  columns = [c.strip() for c in table[2].split('|')]
  # Settings shared by all points are stated once above the table, and kept in the CSV.
  assert 'log_every_steps' not in columns and 'fcd' in columns and 'num_samples' not in columns
  assert 'log_every_steps' in open(tmp_path / 'results.csv').readline()
  assert os.path.exists(tmp_path / 'results_fcd.png')
