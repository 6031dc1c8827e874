"""Fault test: kill a training run again and again; it must lose nothing and end bit-identical.

  python experiments/fault_test.py --workdir=/tmp/fault --sigkills=4 --sigterms=2

Starts `gan_jax.main` on a tiny DCGAN, and restarts it after every fault: SIGKILL after a random
log line, SIGKILL right after a "Saving checkpoint" line (while orbax is writing), and SIGTERM
(which must save and exit 0). Faults are triggered by the child's own output lines, never by
time. After each restart it checks that the run resumed from the newest checkpoint that had been
completed before the fault (none lost, none unreadable). At the end the run must finish, and its
final checkpoint must equal, bit for bit, that of one uninterrupted run in a second workdir.
Prints one RESULT line; exits non-zero on any failure.
"""
import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# configs/dcgan.py:runlocal with k = 2, a log line every 2 steps and a checkpoint every 4.
OVERRIDES = ['--config.num_d_steps=2', '--config.log_every_steps=2',
             '--config.sample_every_steps=1000', '--config.checkpoint_every_steps=4']


def finished_steps(workdir):
  try:
    return sorted(int(n) for n in os.listdir(os.path.join(workdir, 'checkpoints')) if n.isdigit())
  except FileNotFoundError:
    return []


def start(workdir, num_steps):
  cmd = [sys.executable, '-m', 'gan_jax.main', '--config=configs/dcgan.py:runlocal',
         f'--workdir={workdir}', f'--config.num_train_steps={num_steps}', *OVERRIDES]
  return subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                          text=True, env=dict(os.environ, PYTHONPATH=ROOT))


def run_once(workdir, num_steps, fault=None, at=0):
  """Runs until the fault fires on the `at`-th matching line (or the end). Returns (rc, log)."""
  proc = start(workdir, num_steps)
  pattern = {'kill_log': r'step \d+/', 'kill_save': r'Saving checkpoint at step',
             'term_log': r'step \d+/'}.get(fault)
  log, seen = [], 0
  try:
    for line in proc.stderr:  # Blocks on the child's progress; no sleeping.
      log.append(line)
      if pattern and re.search(pattern, line):
        seen += 1
        if seen == at:
          proc.send_signal(signal.SIGTERM if fault == 'term_log' else signal.SIGKILL)
          pattern = None
    return proc.wait(timeout=600), ''.join(log)
  finally:
    if proc.poll() is None:
      proc.kill()


def final_params(workdir, step):
  import orbax.checkpoint as ocp
  path = os.path.join(os.path.abspath(workdir), 'checkpoints', str(step), 'state')
  tree = ocp.StandardCheckpointer().restore(path)
  import jax
  return [np.asarray(x) for x in jax.tree.leaves(tree)]


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--workdir', required=True)
  parser.add_argument('--sigkills', type=int, default=4)
  parser.add_argument('--sigterms', type=int, default=2)
  parser.add_argument('--num_steps', type=int, default=60)
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args()
  rng = random.Random(args.seed)
  faulty, straight = os.path.join(args.workdir, 'faulty'), os.path.join(args.workdir, 'straight')
  # Alternate the two SIGKILL kinds; SIGTERMs interleaved. Log lines per life: num_steps / 2.
  faults = [('kill_log', 'kill_save')[i % 2] for i in range(args.sigkills)]
  faults += ['term_log'] * args.sigterms
  rng.shuffle(faults)
  errors, survived = [], {'kill_log': 0, 'kill_save': 0, 'term_log': 0}
  for fault in faults:
    before = finished_steps(faulty)
    if before and before[-1] >= args.num_steps:
      errors.append(f'the run finished before fault {fault} could fire; raise --num_steps')
      break
    at = rng.randint(1, 3) if fault != 'kill_save' else rng.randint(1, 2)
    rc, log = run_once(faulty, args.num_steps, fault, at)
    resumed = re.search(r'Resumed from .* at step (\d+)', log)
    if before and (not resumed or int(resumed.group(1)) != before[-1]):
      errors.append(f'{fault}: expected to resume at step {before[-1]}, log says '
                    f'{resumed.group(0) if resumed else "no resume"}')
    if 'unreadable' in log or 'Traceback' in log:
      errors.append(f'{fault}: {log[-1500:]}')
    expected_rc = 0 if fault == 'term_log' else -signal.SIGKILL
    if rc != expected_rc:
      errors.append(f'{fault}: exit {rc}, expected {expected_rc}: {log[-1500:]}')
    if fault == 'term_log' and 'SIGTERM: saved a checkpoint' not in log:
      errors.append('SIGTERM did not save a checkpoint')
    survived[fault] += 1
    print(f'{fault} at match {at}: exit {rc}, checkpoints {finished_steps(faulty)}', flush=True)
  rc, log = run_once(faulty, args.num_steps)
  if rc or finished_steps(faulty)[-1:] != [args.num_steps]:
    errors.append(f'the final restart did not finish: exit {rc}: {log[-1500:]}')
  rc, log = run_once(straight, args.num_steps)
  if rc:
    errors.append(f'the uninterrupted run failed: {log[-1500:]}')
  identical = False
  if not errors:
    a = final_params(faulty, args.num_steps)
    b = final_params(straight, args.num_steps)
    identical = len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
    if not identical:
      errors.append('final state differs from the uninterrupted run')
  print('RESULT' + json.dumps({'survived': survived, 'restarts': len(faults) + 1,
                               'bit_identical': identical, 'errors': errors}), flush=True)
  sys.exit(1 if errors else 0)


if __name__ == '__main__':
  main()
