"""1, 2 and 8 devices (pmap), and shard_map, compute the same run from the same global batch.

In float64 the runs agree to rounding (~1e-12): any disagreement there is a logic error (a
statistic, a mask or a selection taken per device instead of over the global batch). In float32
the order of the cross-device reductions changes the last bits of the gradients, and Adam, which
divides by sqrt(v), turns a near-zero gradient of either sign into a step of up to ~lr: so a
parameter may move apart by up to 2 lr per update, and no tighter bound holds on every config.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import xla_flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.slow  # ~100 s alone: 7 runs, each compiling a step for 1, 2 or 8 devices.
# Each variant holds every feature whose numbers could depend on the device count: BatchNorm
# statistics (in G and D of the DCGAN), dropout and top-k's selection over the global batch (the
# MLP, 2 fakes per device at 8), DiffAugment's draws and the EMA of G (both), spectral norm's
# power iteration (the DCGAN's G; D's layers use the same module), the relativistic loss (G's
# step scores a real batch too), InfoGAN's Q head and codes (the DCGAN), WGAN-GP's interpolates
# (the MLP). The MLP runs in float64 only, where the device counts must agree exactly; XLA:CPU's
# float64 convolutions are slow enough to triple the test's time, so the DCGAN runs in float32.
# One variant per net: the features apart, in four variants, took twice as long. The DCGAN is
# also conditioned on 3 k-means clusters, whose labels G draws by their unequal shares for the
# global batch (config.clusters).
VARIANTS = ('dcgan:toolbox:clusters', 'vanilla:top_k:toolbox:x64')
RUNS = ('pmap2', 'pmap8', 'shard_map8')


@pytest.fixture(scope='module')
def runs():
  """All variants in one subprocess: one start of Python, JAX and TensorFlow, not three."""
  env = dict(os.environ, XLA_FLAGS=xla_flags('--xla_force_host_platform_device_count=8'),
             PYTHONPATH=ROOT, JAX_PLATFORMS='cpu')
  proc = subprocess.run([sys.executable, '-m', 'tests.device_equivalence', *VARIANTS],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.split('RESULT', 1)[1])


@pytest.mark.parametrize('variant', [v for v in VARIANTS if not v.endswith('x64')])
def test_float32_runs_agree_within_adams_step(runs, variant):
  out = runs[variant]
  ref = out['pmap1']
  for name in ('pmap8', 'shard_map8'):
    assert out[name]['dtype'] == 'float32'
    np.testing.assert_allclose(out[name]['losses'], ref['losses'], rtol=1e-3, err_msg=name)
    for player in ('g', 'd'):
      bound = 2 * out['lr'][player] * out['updates'][player]
      diff = np.max(np.abs(np.array(out[name][player]) - ref[player]))
      assert diff <= bound, (name, player, diff, bound)


@pytest.mark.parametrize('variant', [v for v in VARIANTS if v.endswith('x64')])
def test_float64_runs_agree_to_rounding(runs, variant):
  out = runs[variant]
  ref = out['pmap1']
  for name in RUNS:
    assert out[name]['dtype'] == 'float64'
    np.testing.assert_allclose(out[name]['losses'], ref['losses'], rtol=1e-10, err_msg=name)
    for player in ('g', 'd'):
      np.testing.assert_allclose(out[name][player], ref[player], rtol=0, atol=1e-10,
                                 err_msg=f'{name} {player}')


def test_a_batch_the_devices_cannot_share_is_a_config_error(runs):
  assert 'multiple of the 8 devices' in runs['indivisible_error']
