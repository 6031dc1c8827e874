"""Runs a sweep: every point of `get_sweep()` as its own `gan_jax.main` run in a sub-workdir.

  python -m gan_jax.sweep --config=configs/dcgan.py --sweep=experiments/sweeps/losses.py \
      --workdir=/tmp/sweep --parallel=2 [--dry_run] [--metric=d_loss]

A sweep is data beside the configs (big_vision): a file with `get_sweep()` returning a list of
dicts of dotted overrides (`{'config.loss': 'minimax', 'config.optim.g_lr': 1e-4}`), built with
`product`, `zip_` and `sweep` below. Each point trains in WORKDIR/<the overrides that vary>/,
so a rerun skips finished points (final checkpoint step == num_train_steps) and resumes the
others. At the end WORKDIR/results.{csv,md} tabulate the final logged metrics of every point
(read from each run's metrics.json) and its last evaluation (eval/step_*/metrics.json, e.g. `fcd`),
and WORKDIR/results_<metric>.png plots one of them.
`--dry_run` prints the commands instead, for a cluster launcher.
"""
import concurrent.futures
import csv
import importlib.util
import itertools
import json
import os
import re
import shlex
import subprocess
import sys
from typing import Any, Dict, List, Optional, Sequence

from absl import app
from absl import flags
from absl import logging

Point = Dict[str, Any]

FLAGS = flags.FLAGS


def define_flags():
  """Only when run as a program: sweep files import this module for its helpers."""
  flags.DEFINE_string('config', None, 'Base config file (as for gan_jax.main, `path[:arg]`).')
  flags.DEFINE_string('sweep', None, 'Python file with get_sweep() -> list of override dicts.')
  flags.DEFINE_string('workdir', None, 'Sweep directory; each point trains in a sub-directory.')
  flags.DEFINE_integer('parallel', 1, 'Points run at once (at most the number of CPU cores).')
  flags.DEFINE_bool('dry_run', False, 'Print the commands of unfinished points; run nothing.')
  flags.DEFINE_string('metric', 'd_loss', 'Final metric to plot per point: a metrics.json key, '
                      'or an evaluation metric such as fcd.')
  flags.DEFINE_integer('timeout', 24 * 3600, 'Seconds one point may run before it is killed.')


# Helpers for sweep files.
def sweep(key: str, values: Sequence[Any]) -> List[Point]:
  """One axis: [{key: v} for v in values]."""
  return [{key: v} for v in values]


def product(*axes: List[Point]) -> List[Point]:
  """Every combination of the axes' points (the first axis varies slowest)."""
  return [dict(kv for point in combo for kv in point.items())
          for combo in itertools.product(*axes)]


def zip_(*axes: List[Point]) -> List[Point]:
  """The i-th points of all axes together; the axes must be equally long."""
  if len({len(a) for a in axes}) > 1:
    raise ValueError(f'zip_ needs axes of one length, got {[len(a) for a in axes]}.')
  return [dict(kv for point in combo for kv in point.items()) for combo in zip(*axes)]


def _strip(key: str) -> str:
  return key[len('config.'):] if key.startswith('config.') else key


def load_sweep(path: str) -> List[Point]:
  spec = importlib.util.spec_from_file_location('gan_jax_sweep_file', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return [{_strip(k): v for k, v in point.items()} for point in module.get_sweep()]


def load_config(spec: str):
  """`path[:arg]` -> the ConfigDict gan_jax.main would build (before --config.x flags)."""
  path, _, arg = spec.partition(':')
  module_spec = importlib.util.spec_from_file_location('gan_jax_sweep_config', path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()


def point_name(point: Point, varying: Sequence[str]) -> str:
  """The sub-workdir: the overrides that differ between points, e.g. `loss=minimax,num_d_steps=2`."""
  name = ','.join(f'{k}={point[k]}' for k in varying) or 'base'
  return re.sub(r'[^A-Za-z0-9_.,=+-]', '_', name)


def final_step(config, point: Point) -> int:
  return int(point.get('num_train_steps', config.num_train_steps))


def latest_checkpoint_step(workdir: str) -> int:
  """The newest finished checkpoint (orbax renames a step dir to its number when complete)."""
  try:
    names = os.listdir(os.path.join(workdir, 'checkpoints'))
  except FileNotFoundError:
    return 0
  return max((int(n) for n in names if n.isdigit()), default=0)


def command(config_spec: str, workdir: str, point: Point) -> List[str]:
  return [sys.executable, '-m', 'gan_jax.main', f'--config={config_spec}', f'--workdir={workdir}',
          *[f'--config.{k}={v}' for k, v in point.items()]]


def plan(config_spec: str, sweep_path: str, workdir: str) -> List[Dict[str, Any]]:
  """One entry per point: name, overrides, sub-workdir, command and whether it is finished."""
  config = load_config(config_spec)
  points = load_sweep(sweep_path)
  keys = list(dict.fromkeys(k for p in points for k in p))
  varying = [k for k in keys if len({repr(p.get(k)) for p in points}) > 1]
  entries = []
  for point in points:
    name = point_name(point, varying)
    sub = os.path.join(workdir, name)
    entries.append({'name': name, 'point': point, 'workdir': sub,
                    'cmd': command(config_spec, sub, point),
                    'done': latest_checkpoint_step(sub) >= final_step(config, point),
                    'num_train_steps': final_step(config, point)})
  names = [e['name'] for e in entries]
  if len(set(names)) != len(names):
    raise ValueError(f'{sweep_path} has repeated points: {names}.')
  return entries


def run_point(entry, timeout: int) -> int:
  os.makedirs(entry['workdir'], exist_ok=True)
  with open(os.path.join(entry['workdir'], 'train.log'), 'a') as log:
    try:
      return subprocess.run(entry['cmd'], stdout=log, stderr=subprocess.STDOUT,
                            timeout=timeout).returncode
    except subprocess.TimeoutExpired:
      return -9


def _read_json(path: str) -> Dict[str, Any]:
  try:
    with open(path) as f:
      return json.load(f)
  except (FileNotFoundError, json.JSONDecodeError):
    return {}


def newest_evaluation_file(workdir: str) -> Optional[str]:
  """WORKDIR/eval/step_<N>/metrics.json of the largest N (gan_jax.evaluate.eval_dir), or None;
  never a step_<N>_raw/ (an EMA run's raw G, `--raw_generator`)."""
  try:
    names = [n for n in os.listdir(os.path.join(workdir, 'eval'))
             if n.startswith('step_') and n[len('step_'):].isdigit()]
  except FileNotFoundError:
    return None
  if not names:
    return None
  newest = max(names, key=lambda n: int(n[len('step_'):]))
  return os.path.join(workdir, 'eval', newest, 'metrics.json')


def last_evaluation(workdir: str) -> Dict[str, Any]:
  """The numbers of newest_evaluation_file, with its step as eval_step."""
  path = newest_evaluation_file(workdir)
  if path is None:
    return {}
  metrics = _read_json(path)
  numbers = {k: v for k, v in metrics.items()
             if isinstance(v, (int, float)) and k not in ('step', 'num_samples', 'num_reference',
                                                          'eval_seconds')}
  return {'eval_step': metrics['step'], **numbers} if numbers else {}


def results(entries) -> List[Dict[str, Any]]:
  rows = []
  for e in entries:
    metrics = {**_read_json(os.path.join(e['workdir'], 'metrics.json')),
               **last_evaluation(e['workdir'])}
    done = latest_checkpoint_step(e['workdir']) >= e['num_train_steps']
    rows.append({'point': e['name'], **e['point'], 'status': 'done' if done else 'unfinished',
                 **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in metrics.items()}})
  return rows


def write_results(rows, workdir: str, metric: str, shared: Point = None) -> None:
  """results.csv has every column; results.md states the overrides `shared` by all points once."""
  shared = shared or {}
  columns = list(dict.fromkeys(k for r in rows for k in r))
  with open(os.path.join(workdir, 'results.csv'), 'w', newline='') as f:
    writer = csv.DictWriter(f, columns)
    writer.writeheader()
    writer.writerows(rows)
  shown = [c for c in columns if c != 'point' and c not in shared]
  lines = [f'All points: {", ".join(f"{k}={v}" for k, v in shared.items())}', ''] if shared else []
  lines += ['| ' + ' | '.join(shown) + ' |', '|' + '---|' * len(shown)]
  lines += ['| ' + ' | '.join(str(r.get(c, '')) for c in shown) + ' |' for r in rows]
  with open(os.path.join(workdir, 'results.md'), 'w') as f:
    f.write('\n'.join(lines) + '\n')

  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  plotted = [r for r in rows if isinstance(r.get(metric), (int, float))]
  fig, ax = plt.subplots(figsize=(8, 0.3 * len(plotted) + 1.2))
  ax.barh([r['point'] for r in plotted], [r[metric] for r in plotted])
  ax.invert_yaxis()
  ax.set_xlabel(f'final {metric}')
  ax.tick_params(axis='y', labelsize=7)
  fig.tight_layout()
  fig.savefig(os.path.join(workdir, f'results_{metric}.png'), dpi=100)
  plt.close(fig)


def main(argv):
  del argv
  for name in ('config', 'sweep', 'workdir'):
    if not FLAGS[name].value:
      raise app.UsageError(f'--{name} is required.')
  entries = plan(FLAGS.config, FLAGS.sweep, FLAGS.workdir)
  todo = [e for e in entries if not e['done']]
  if FLAGS.dry_run:
    for e in entries:
      print(('# done: ' if e['done'] else '') + shlex.join(e['cmd']))
    return
  for e in entries:
    if e['done']:
      logging.info('%s: finished, skipped', e['name'])
  parallel = max(1, min(FLAGS.parallel, os.cpu_count() or 1, len(todo) or 1))
  logging.info('%d of %d points to run, %d at a time', len(todo), len(entries), parallel)
  failed = []
  with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
    futures = {pool.submit(run_point, e, FLAGS.timeout): e for e in todo}
    for future in concurrent.futures.as_completed(futures):
      e, rc = futures[future], future.result()
      logging.info('%s: exit %d (log: %s)', e['name'], rc, os.path.join(e['workdir'], 'train.log'))
      if rc:
        failed.append(e['name'])
  os.makedirs(FLAGS.workdir, exist_ok=True)
  rows = results(entries)
  first = entries[0]['point']
  shared = {k: v for k, v in first.items() if all(e['point'].get(k) == v for e in entries)}
  write_results(rows, FLAGS.workdir, FLAGS.metric, shared if len(entries) > 1 else None)
  print(open(os.path.join(FLAGS.workdir, 'results.md')).read())
  if failed:
    logging.error('%d points failed: %s', len(failed), failed)
    sys.exit(1)


if __name__ == '__main__':
  define_flags()
  app.run(main)
