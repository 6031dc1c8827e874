"""One batching helper and one sampler: fixed shapes, one compilation, the same numbers."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import batching
from gan_jax import checkpoints
from gan_jax import steps


def test_map_in_batches_pads_the_last_batch_and_compiles_once():
  traces = []

  @jax.jit
  def fn(x, y):
    traces.append(x.shape)
    return {'sum': x.sum(1) + (0 if y is None else y), 'x': x * 2}

  x = np.arange(14, dtype=np.float32).reshape(7, 2)
  out = batching.map_in_batches(fn, x, None, batch_size=3)
  assert traces == [(3, 2)]  # 3 + 3 + 1 rows, one program.
  np.testing.assert_array_equal(out['sum'], x.sum(1))
  np.testing.assert_array_equal(out['x'], x * 2)
  labels = np.arange(7, dtype=np.float32)
  out = batching.map_in_batches(fn, x, labels, batch_size=7)  # Exactly one full batch.
  np.testing.assert_array_equal(out['sum'], x.sum(1) + labels)


def _state(tiny_config, axis_name):
  config = tiny_config('vanilla')
  return checkpoints.create_train_state(config, data_shape=(28, 28, 1), num_classes=0,
                                        axis_name=axis_name)


def test_the_one_sampler_is_g_in_inference_mode(tiny_config):
  state = _state(tiny_config, None)
  z = steps.sample_latent(jax.random.PRNGKey(0), 5, state.latent_dim, state.prior)
  np.testing.assert_allclose(steps.generate_samples(state, z), steps.generate(state, z)[0],
                             atol=1e-6)
  from gan_jax import evaluate  # pylint: disable=g-import-not-at-top
  samples, labels = evaluate.generate_samples(state, 5, batch_size=2)  # Padded batches.
  assert labels is None and samples.shape == (5, 28, 28, 1) and samples.dtype == np.float32
  np.testing.assert_allclose(samples, steps.generate_samples(state, z), atol=1e-6)


@pytest.mark.parametrize('built, runs', [(None, 'batch'), ('other', 'batch'), ('batch', None)])
def test_steps_refuse_models_built_for_another_device_axis(tiny_config, built, runs):
  """Without the step's axis, BatchNorm would normalise per device and every device would draw
  the same dropout mask, silently; the step must fail when it is traced instead."""
  state = _state(tiny_config, built)
  batch = {'image': jnp.zeros((4, 28, 28, 1))}
  for step in (steps.d_step, steps.g_step):
    fn = lambda s, b, step=step: step(s, b, axis_name=runs)
    if runs:
      fn = jax.pmap(fn, axis_name=runs)
      args = jax.tree.map(lambda x: x[None], (state, batch))
    else:
      fn, args = jax.jit(fn), (state, batch)
    with pytest.raises(ValueError, match=f'built with axis_name={built!r} but the step runs '
                                         f'with axis_name={runs!r}'):
      fn(*args)
