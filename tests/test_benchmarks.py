"""The benchmarks' own arithmetic (experiments/benchmarks/)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'experiments', 'benchmarks'))
import step_op_profile  # pylint: disable=g-import-not-at-top,wrong-import-position


def test_op_profile_counts_idle_stretches_to_the_convolution_in_flight():
  # Two executions of a step, in ns: (0, 100) and (110, 200). XLA:CPU's own convolution is an
  # event of its launch only; the executor runs small independent ops, then waits on it.
  events = [
      (0, 5, 'fusion.a'),
      (7, 8, 'fusion.b'),  # 5-7: no conv launched yet, counted to the op that ended last.
      (8, 9, 'convolution.1'),
      (9, 11, 'wrapped_reduce-window'),
      (40, 42, 'compare_convert_fusion'),  # 11-40: convolution.1; a 'convert' is no conv.
      (50, 100, 'fusion.c'),  # 42-50: convolution.1 still the last launched.
      (110, 130, 'fusion.a'),  # 100-110: between the two executions.
      (131, 132, 'conv_general_dilated.2'),  # 130-131: convolution.1, the last launched.
      (132, 133, 'copy.1'),
      (180, 200, 'fusion.d'),  # 133-180: conv_general_dilated.2.
  ]
  idle = step_op_profile.idle_times(events, [(0, 100), (110, 200)])
  expected = {'fusion.a': 2, 'convolution.1': 29 + 8 + 1, 'conv_general_dilated.2': 47,
              step_op_profile.BETWEEN_STEPS: 10}
  assert set(idle) == set(expected)
  for name, ns in expected.items():
    assert idle[name] == pytest.approx(ns * 1e-9), name
  # With the ops' own events the rows add up to the traced stretch, 0 to 200 ns.
  own = sum(end - start for start, end, _ in events) * 1e-9
  assert own + sum(idle.values()) == pytest.approx(200e-9)


def test_op_profile_overrides_set_nested_keys_as_gan_jax_main_would():
  from configs import default  # pylint: disable=g-import-not-at-top
  config = default.get_config()
  for item in ('r1_gamma=0.1', 'dcgan.conv_impl=xla', 'dcgan.width=32', "loss='hinge'"):
    step_op_profile.override(config, item)
  assert (config.r1_gamma, config.dcgan.conv_impl, config.dcgan.width, config.loss) == (
      0.1, 'xla', 32, 'hinge')
  with pytest.raises(TypeError):  # ConfigDict keeps each field's type.
    step_op_profile.override(config, 'dcgan.width=wide')
