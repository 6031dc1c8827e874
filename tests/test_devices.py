"""1, 2 and 8 devices (pmap), and shard_map, compute the same run from the same global batch."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# BatchNorm; dropout; top-k's selection over the global batch (2 fakes per device at 8).
@pytest.mark.parametrize('config_name', ['dcgan', 'vanilla', 'vanilla:top_k'])
def test_runs_do_not_depend_on_the_device_count(config_name):
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=8',
             PYTHONPATH=ROOT, JAX_PLATFORMS='cpu')
  proc = subprocess.run([sys.executable, '-m', 'tests.device_equivalence', config_name],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-3000:]
  out = json.loads(proc.stdout.split('RESULT', 1)[1])
  ref = out['pmap1']
  for name in ('pmap2', 'pmap8', 'shard_map8'):
    losses = np.array(out[name]['losses'])
    np.testing.assert_allclose(losses, ref['losses'], rtol=1e-5, err_msg=name)
    for a, b in zip(out[name]['params'], ref['params']):
      np.testing.assert_allclose(a, b, atol=1e-4, rtol=0, err_msg=name)
  assert 'multiple of the 8 devices' in out['indivisible_error']
