"""2 processes x 2 CPU devices (jax.distributed over loopback, gloo collectives) compute the same
run as 1 process x 4 devices, resume from their own checkpoint, and a missing peer fails fast."""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import xla_flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.slow  # ~70 s: seven processes, two waiting out a join deadline.


def _free_port():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _env(devices):
  return dict(os.environ, XLA_FLAGS=xla_flags(f'--xla_force_host_platform_device_count={devices}'),
              PYTHONPATH=ROOT, JAX_PLATFORMS='cpu', TF_CPP_MIN_LOG_LEVEL='2')


def _start(process_id, num_processes, port, workdir, num_steps, devices, timeout_s=60,
           parallel='pmap'):
  # Output goes to files: a pipe nobody reads yet would fill and stall a process mid-collective.
  log = open(f'{workdir}.{process_id}.log', 'w+')
  proc = subprocess.Popen(
      [sys.executable, '-m', 'tests.multihost_worker', str(process_id), str(num_processes),
       str(port), str(workdir), str(num_steps), str(timeout_s), parallel],
      cwd=ROOT, env=_env(devices), stdout=log, stderr=subprocess.STDOUT, text=True)
  proc.log = log
  return proc


def _output(proc):
  proc.log.seek(0)
  return proc.log.read()


def _finish(procs, timeout=600):
  try:
    for p in procs:
      p.wait(timeout=timeout)
      assert p.returncode == 0, _output(p)[-3000:]
  finally:
    for p in procs:  # A peer that hangs must not outlive the test.
      if p.poll() is None:
        p.kill()
  out = _output(procs[0])
  return json.loads(out.split('RESULT', 1)[1].splitlines()[0]) if 'RESULT' in out else None


def test_two_processes_match_one_and_resume_from_their_checkpoint(tmp_path):
  port = _free_port()
  # The 1 x 4 reference and the first half of the 2 x 2 run, side by side.
  ref_proc = _start(0, 1, 0, tmp_path / 'one', 8, devices=4)
  half = _finish([_start(i, 2, port, tmp_path / 'two', 4, devices=2) for i in range(2)])
  assert half['step'] == 4 and half['devices'] == 4
  ref = _finish([ref_proc])
  assert sorted(os.listdir(tmp_path / 'two' / 'checkpoints')) == ['4']
  assert os.listdir(tmp_path / 'two' / 'samples') == ['step_0000004.png']  # Process 0 only.

  port = _free_port()
  # The second half under shard_map: both engines span processes; the checkpoint is host data.
  two = _finish([_start(i, 2, port, tmp_path / 'two', 8, devices=2, parallel='shard_map')
                 for i in range(2)])
  assert two['step'] == ref['step'] == 8 and two['devices'] == 4
  diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
             for a, b in zip(two['params'], ref['params']))
  print(f'max |params(2x2, resumed at 4) - params(1x4)| after 8 steps = {diff:.3g}')
  assert diff <= 1e-5
  assert sorted(os.listdir(tmp_path / 'two' / 'checkpoints')) == ['4', '8']


def test_a_missing_peer_is_an_error_within_the_timeout_not_a_hang(tmp_path):
  # The coordinator of a 2-process run whose peer never comes, and (side by side, on another
  # port) a non-coordinator whose coordinator never comes.
  alone = _start(0, 2, _free_port(), tmp_path / 'w0', 4, devices=2, timeout_s=5)
  lonely = _start(1, 2, _free_port(), tmp_path / 'w1', 4, devices=2, timeout_s=3)
  for proc in (alone, lonely):
    proc.wait(timeout=120)  # Far above the timeouts: a hang fails the test.
  err = _output(alone)
  assert alone.returncode != 0
  assert 'DEADLINE_EXCEEDED' in err and 'Joining a 2-process run' in err
  err = _output(lonely)  # It says so in one Python error.
  assert lonely.returncode != 0 and 'No coordinator at 127.0.0.1:' in err
