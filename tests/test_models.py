"""The architectures: exact parameter counts of the seed nets and DCGAN's guidelines."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import default
from gan_jax import models
from gan_jax.models import layers


def _count(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _init(model_name, shape, num_classes=0, shapes_only=False, **dcgan):
  """(G, D, G's variables, D's variables); with `shapes_only`, the variables' shapes alone.

  Jitted (or only traced): op by op, the init of the full-size nets took 5-9 s per test."""
  config = default.get_config()
  config.model = model_name
  config.dcgan.update(dcgan)
  g, d = models.create_models(config, data_shape=shape, num_classes=num_classes)
  labels = jnp.zeros((2,), jnp.int32) if num_classes else None
  run = jax.eval_shape if shapes_only else lambda f, *args: jax.jit(f)(*args)  # noqa: E731
  g_vars = run(lambda key, z, y: g.init(key, z, y, train=False), jax.random.PRNGKey(0),
               jnp.zeros((2, 100)), labels)
  d_vars = run(lambda key, x, y: d.init(key, x, y, train=False), jax.random.PRNGKey(1),
               jnp.zeros((2, *shape)), labels)
  return g, d, g_vars, d_vars


def test_vanilla_mlp_has_the_seed_parameter_counts():
  _, _, g_vars, d_vars = _init('mlp', (28, 28, 1), shapes_only=True)
  assert _count(g_vars['params']) == 1_489_936
  assert _count(d_vars['params']) == 533_505


def test_seed32_dcgan_has_the_seed_parameter_counts():
  _, _, g_vars, d_vars = _init('dcgan_seed32', (32, 32, 1), shapes_only=True)
  assert _count(g_vars['params']) == 1_049_985
  assert _count(d_vars['params']) == 98_113


@pytest.mark.parametrize('size,channels', [(28, 1), (32, 3), (64, 3)])
def test_dcgan_makes_images_of_the_configured_size(size, channels):
  g, d, g_vars, d_vars = _init('dcgan', (size, size, channels), width=8)
  z = jax.random.normal(jax.random.PRNGKey(2), (2, 100))
  x = g.apply(g_vars, z, train=False)
  assert x.shape == (2, size, size, channels)
  assert float(jnp.max(jnp.abs(x))) <= 1.0  # Tanh output.
  assert d.apply(d_vars, x, train=False).shape == (2,)


def _layer_of_g_on(g, g_vars, name, x):
  """G's submodule `name`, as G builds and calls it, applied to `x` (of its input's shape for a
  batch of 1) in place of its input."""
  out = {}

  def swap_input(next_fun, args, kwargs, context):
    if context.module.name == name and context.method_name == '__call__':
      out['y'] = next_fun(x, *args[1:], **kwargs)
      return out['y']
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(swap_input):
    g.apply(g_vars, jnp.zeros((1, 100)), train=False)
  return out['y']


def test_resize_generator_upsamples_by_nearest_neighbour_then_a_3x3_conv():
  """`dcgan.g_upsampling=resize`: each of G's upsampling layers is a 3x3 conv of its input
  repeated 2x2, so a constant map comes out constant away from the border, where G's 4x4
  transposed conv (the default) alternates by output phase: the checkerboard."""
  g, _, g_vars, _ = _init('dcgan', (28, 28, 1), width=8, g_upsampling='resize')
  z = jax.random.normal(jax.random.PRNGKey(2), (2, 100))
  _, captured = g.apply(g_vars, z, train=False, capture_intermediates=True)
  outputs = {k: v['__call__'][0] for k, v in captured['intermediates'].items() if k != '__call__'}
  params = g_vars['params']
  assert sorted(k for k in params if not k.startswith(('BatchNorm', 'Dense'))) == ['Conv_0',
                                                                                  'Conv_1']
  for conv_name, norm_name in (('Conv_0', 'BatchNorm_0'), ('Conv_1', 'BatchNorm_1')):
    p = params[conv_name]
    assert p['kernel'].shape[:2] == (3, 3)
    up = jnp.repeat(jnp.repeat(jax.nn.relu(outputs[norm_name]), 2, 1), 2, 2)
    want = jax.lax.conv_general_dilated(up, p['kernel'], (1, 1), ((1, 1), (1, 1)),
                                        dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    np.testing.assert_allclose(outputs[conv_name], want + p.get('bias', 0.0), rtol=0, atol=1e-5)

  flat = jnp.ones((1, 7, 7, 16))
  resized = _layer_of_g_on(g, g_vars, 'Conv_0', flat)[0, 1:-1, 1:-1]
  np.testing.assert_allclose(resized, jnp.broadcast_to(resized[0, 0], resized.shape), atol=1e-6)
  t_g, _, t_vars, _ = _init('dcgan', (28, 28, 1), width=8)
  transposed = _layer_of_g_on(t_g, t_vars, 'Upsample_0', flat)[0, 2:-2, 2:-2]
  phases = transposed.reshape(5, 2, 5, 2, -1)[0, :, 0, :]  # The 4 phases of one 2x2 block.
  assert float(jnp.max(jnp.abs(phases - phases[:1, :1]))) > 1e-2


def test_dcgan_with_a_fully_connected_layer_is_infogans_mnist_pair():
  """Chen et al. 2016 (appendix C.1), the MNIST nets of Lucic et al. 2018. G: FC 1024, BN, ReLU;
  FC 7x7x128, BN, ReLU; 4x4 up-conv 64, BN, ReLU; 4x4 up-conv 1. D: 4x4 conv 64, LReLU; 4x4
  conv 128, BN, LReLU; FC 1024, BN, LReLU; FC 1. No bias before a BatchNorm."""
  _, _, g_vars, d_vars = _init('dcgan', (28, 28, 1), fc_hidden=1024, shapes_only=True)
  bn = lambda c: 2 * c  # noqa: E731  (scale and offset)
  g = 100 * 1024 + bn(1024) + 1024 * 7 * 7 * 128 + bn(128) + 4 * 4 * 128 * 64 + bn(64) + (
      4 * 4 * 64 + 1)
  d = (4 * 4 * 64 + 64) + 4 * 4 * 64 * 128 + bn(128) + 7 * 7 * 128 * 1024 + bn(1024) + (1024 + 1)
  assert (_count(g_vars['params']), _count(d_vars['params'])) == (g, d) == (6_659_457, 6_558_017)


def test_dcgan_g_width_widens_the_generator_alone():
  """`dcgan.g_width` sets G's width (its feature maps 2w at 7x7, w at 14x14); D keeps `width`."""
  bn = lambda c: 2 * c  # noqa: E731  (scale and offset)
  g = lambda w: 100 * 7 * 7 * 2 * w + bn(2 * w) + 4 * 4 * 2 * w * w + bn(w) + 4 * 4 * w + 1  # noqa
  _, _, g_vars, d_vars = _init('dcgan', (28, 28, 1), shapes_only=True)
  _, _, wide_g_vars, wide_d_vars = _init('dcgan', (28, 28, 1), g_width=96, shapes_only=True)
  assert _count(g_vars['params']) == g(64) == 759_681
  assert _count(wide_g_vars['params']) == g(96) == 1_237_825
  assert _count(wide_d_vars['params']) == _count(d_vars['params'])


def test_dcgan_d_kernel_size_sets_ds_kernels_alone():
  """`dcgan.d_kernel_size` sets D's kernels (3x3 keeps 28 -> 14 -> 7 at stride 2); G keeps
  `kernel_size`, and D of either kernel reads every pixel (each logit moves with each input)."""
  _, _, g_vars, d_vars = _init('dcgan', (28, 28, 1), shapes_only=True)
  _, d, g3_vars, d3_vars = _init('dcgan', (28, 28, 1), d_kernel_size=3)
  assert jax.tree.map(jnp.shape, g3_vars) == jax.tree.map(jnp.shape, g_vars)
  kernels = [v['kernel'].shape for k, v in d3_vars['params'].items() if k.startswith('Conv')]
  assert kernels == [(3, 3, 1, 64), (3, 3, 64, 128)]
  bn = lambda c: 2 * c  # noqa: E731  (scale and offset)
  assert _count(d3_vars['params']) == (3 * 3 * 64 + 64) + 3 * 3 * 64 * 128 + bn(128) + (
      7 * 7 * 128 + 1) == 80_897
  assert _count(d_vars['params']) - _count(d3_vars['params']) == 7 * (64 + 64 * 128)
  x = jax.random.normal(jax.random.key(2), (2, 28, 28, 1))
  grad = jax.grad(lambda x: d.apply(d3_vars, x, train=False).sum())(x)
  assert np.all(np.abs(np.asarray(grad)) > 0)


def test_dcgan_has_no_bias_before_batchnorm():
  _, _, g_vars, d_vars = _init('dcgan', (32, 32, 1), width=8, shapes_only=True)
  g_layers = [k for k in g_vars['params'] if not k.startswith('BatchNorm')]
  d_layers = [k for k in d_vars['params'] if not k.startswith('BatchNorm')]
  # Only G's output layer and D's input and output layers (no BatchNorm after them) have biases.
  g_bias = [k for k in g_layers if 'bias' in g_vars['params'][k]]
  d_bias = [k for k in d_layers if 'bias' in d_vars['params'][k]]
  assert g_bias == [g_layers[-1]]
  assert d_bias == [d_layers[0], d_layers[-1]]


def test_dcgan_rejects_a_size_it_cannot_make():
  with pytest.raises(ValueError, match='cannot make 30x30'):
    _init('dcgan', (30, 30, 1))


@pytest.mark.parametrize('model', ['mlp', 'dcgan'])
def test_conditional_models_use_the_label(model):
  g, d, g_vars, d_vars = _init(model, (28, 28, 1), num_classes=10, width=8)
  z = jnp.tile(jax.random.normal(jax.random.PRNGKey(3), (1, 100)), (2, 1))
  x = g.apply(g_vars, z, jnp.array([3, 7]), train=False)
  assert float(jnp.max(jnp.abs(x[0] - x[1]))) > 1e-4  # Same z, other label: another image.
  logits = d.apply(d_vars, jnp.tile(x[:1], (2, 1, 1, 1)), jnp.array([3, 7]), train=False)
  assert abs(float(logits[0] - logits[1])) > 1e-6


def test_projection_discriminator_adds_the_labels_embedding_times_ds_features():
  """Miyato & Koyama's D: logit(x, y) = psi(phi(x)) + <V[y], phi(x)>. The gradient of the logit
  with respect to V's row y is phi(x), so swapping the label moves the logit by (V[y'] - V[y]) .
  phi(x), and no other row of V gets a gradient."""
  _, d, _, d_vars = _init('dcgan', (28, 28, 1), num_classes=10, d_conditioning='projection',
                         width=8)
  x = jax.random.normal(jax.random.PRNGKey(4), (2, 28, 28, 1))
  labels = jnp.array([3, 7])

  def logits(embedding, y):
    params = {**d_vars['params'], 'projection': {'embedding': embedding}}
    return d.apply({**d_vars, 'params': params}, x, y, train=False)

  # A V of unit-scale rows (its init is N(0, 0.02)).
  v = jax.random.normal(jax.random.PRNGKey(5), d_vars['params']['projection']['embedding'].shape)
  grad = jax.grad(lambda e: jnp.sum(logits(e, labels)))(v)
  untouched = np.setdiff1d(np.arange(10), labels)
  assert float(jnp.max(jnp.abs(grad[untouched]))) == 0.0
  assert float(jnp.min(jnp.linalg.norm(grad[labels], axis=-1))) > 1e-3  # phi(x) != 0.
  swapped = jnp.array([7, 3])
  expected = logits(v, labels) + jnp.sum((v[swapped] - v[labels]) * grad[labels], -1)
  np.testing.assert_allclose(logits(v, swapped), expected, rtol=1e-5, atol=1e-5)
  # The planes are gone from D's input: its first conv sees the image alone.
  assert d_vars['params']['Conv_0']['kernel'].shape[2] == 1


def test_conditional_batch_norm_is_the_batchs_norm_with_each_classs_gain_and_bias():
  """(x - mean) / sqrt(var + eps) over the batch's examples and positions, times the gain of the
  example's class plus its bias; a class absent from the batch gets no gradient."""
  bn = layers.ConditionalBatchNorm(num_classes=5)
  x = 2.0 * jax.random.normal(jax.random.PRNGKey(0), (6, 3, 3, 4)) + 1.0
  labels = jnp.array([0, 2, 2, 4, 0, 1])
  stats = bn.init(jax.random.PRNGKey(1), x, labels, train=False)['batch_stats']
  keys = jax.random.split(jax.random.PRNGKey(2), 2)
  params = {'gain': {'embedding': jax.random.normal(keys[0], (5, 4))},
            'bias': {'embedding': jax.random.normal(keys[1], (5, 4))}}

  def apply(params):
    out, _ = bn.apply({'params': params, 'batch_stats': stats}, x, labels, train=True,
                      mutable=['batch_stats'])
    return out

  xs = np.asarray(x, np.float64)
  normed = (xs - xs.mean((0, 1, 2))) / np.sqrt(xs.var((0, 1, 2)) + 1e-5)
  gain = np.asarray(params['gain']['embedding'])[labels][:, None, None]
  bias = np.asarray(params['bias']['embedding'])[labels][:, None, None]
  np.testing.assert_allclose(apply(params), normed * gain + bias, rtol=1e-5, atol=1e-5)
  weights = jax.random.normal(jax.random.PRNGKey(3), x.shape)
  grads = jax.grad(lambda p: jnp.sum(apply(p) * weights))(params)
  for table in ('gain', 'bias'):
    g = np.asarray(grads[table]['embedding'])
    np.testing.assert_array_equal(g[3], 0.0)  # Class 3 is not in the batch.
    assert np.all(np.abs(g[[0, 1, 2, 4]]).sum(-1) > 1e-3)


def test_generator_conditioned_by_batch_norm_reads_the_label_in_its_norms_alone():
  """g_conditioning='batch_norm': z alone enters G's first layer, and the label moves the image
  through the norms' gains and biases, which start at the plain BatchNorm's (1 and 0)."""
  g, _, g_vars, _ = _init('dcgan', (28, 28, 1), num_classes=10, width=8,
                          g_conditioning='batch_norm')
  _, _, input_vars, _ = _init('dcgan', (28, 28, 1), num_classes=10, width=8)
  assert g_vars['params']['Dense_0']['kernel'].shape[0] == 100  # z alone, no one-hot.
  assert input_vars['params']['Dense_0']['kernel'].shape[0] == 110
  z = jnp.tile(jax.random.normal(jax.random.PRNGKey(3), (1, 100)), (2, 1))
  y = jnp.array([3, 7])
  same = g.apply(g_vars, z, y, train=False)
  np.testing.assert_allclose(same[0], same[1], atol=1e-6)  # At init every class is alike.
  norms = [k for k in g_vars['params'] if k.startswith('ConditionalBatchNorm')]
  assert len(norms) == 2  # After the projection and after the one hidden upsampling.
  params = dict(g_vars['params'])
  gain = params[norms[0]]['gain']['embedding']
  params[norms[0]] = {**params[norms[0]], 'gain': {'embedding': gain.at[7].multiply(-1.0)}}
  x = g.apply({**g_vars, 'params': params}, z, y, train=False)
  np.testing.assert_allclose(x[0], same[0], atol=1e-6)  # Class 3's gains are untouched.
  assert float(jnp.max(jnp.abs(x[1] - same[1]))) > 1e-3


def test_packed_discriminator_judges_each_pack_as_one():
  config = default.get_config()
  config.model = 'mlp'
  config.mlp.update(pack=3, maxout=5, d_hidden=(16, 16), dropout=0.0)
  _, d = models.create_models(config, data_shape=(2,))
  x = jax.random.normal(jax.random.PRNGKey(0), (6, 2))
  params = d.init(jax.random.PRNGKey(1), x, train=False)
  logits = d.apply(params, x, train=False)
  assert logits.shape == (2,)  # One logit per pack of 3.
  # Each logit depends on every sample of its own pack and on none of the other pack's.
  jac = jax.jacobian(lambda x: d.apply(params, x, train=False))(x)  # (2, 6, 2)
  norms = np.asarray(jnp.linalg.norm(jac, axis=-1))
  assert np.all(norms[0, :3] > 1e-6) and np.all(norms[1, 3:] > 1e-6)
  np.testing.assert_array_equal(norms[0, 3:], 0.0)
  np.testing.assert_array_equal(norms[1, :3], 0.0)
  # The same logits by hand: packs concatenated, maxout of 5 pieces per unit, a linear output.
  p = params['params']
  h = np.asarray(x).reshape(2, 6)
  for name in ('Dense_0', 'Dense_1'):
    h = (h @ p[name]['kernel'] + p[name]['bias']).reshape(2, 16, 5).max(-1)
  np.testing.assert_allclose(logits, (h @ p['Dense_2']['kernel'] + p['Dense_2']['bias'])[:, 0],
                             rtol=1e-5, atol=1e-6)
  with pytest.raises(ValueError, match='packs of 3'):
    d.apply(params, x[:4], train=False)


def test_minibatch_std_is_each_groups_mean_deviation_and_splits_like_the_batch():
  scale = np.arange(1, 9, dtype=np.float32)[:, None, None, None]  # Groups that differ.
  x = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (8, 3, 3, 5))) * scale
  got = np.asarray(layers.minibatch_std(jnp.asarray(x), 4))
  np.testing.assert_array_equal(got[..., :5], x)
  for i in range(8):
    group = x[4 * (i // 4):4 * (i // 4) + 4]  # Consecutive examples, (4, 3, 3, 5).
    expected = np.sqrt(group.var(axis=0) + 1e-8).mean()
    np.testing.assert_allclose(got[i, ..., 5], expected, rtol=1e-6)
  # A device holding half the batch forms the same groups.
  halves = [layers.minibatch_std(jnp.asarray(h), 4) for h in (x[:4], x[4:])]
  np.testing.assert_allclose(np.concatenate(halves), got, rtol=1e-6)


def test_d_dropout_draws_a_mask_in_training_only():
  _, d, _, d_vars = _init('dcgan', (28, 28, 1), width=8, d_norm='none', d_dropout=0.5)
  _, plain, _, _ = _init('dcgan', (28, 28, 1), width=8, d_norm='none')
  x = jax.random.normal(jax.random.PRNGKey(2), (4, 28, 28, 1))
  train = lambda seed: d.apply(d_vars, x, train=True,  # noqa: E731
                               rngs={'dropout': jax.random.PRNGKey(seed)})
  # Same params, no mask in evaluation: the D without dropout; in training each key its own.
  np.testing.assert_array_equal(d.apply(d_vars, x, train=False), plain.apply(d_vars, x,
                                                                             train=False))
  np.testing.assert_array_equal(train(0), train(0))
  assert np.all(np.abs(np.asarray(train(0) - train(1))) > 1e-6)


@pytest.mark.parametrize('group', [0, 4])
def test_minibatch_std_lets_d_see_the_other_examples_of_a_group(group):
  # D without BatchNorm, so only the minibatch deviation can mix examples.
  _, d, _, d_vars = _init('dcgan', (28, 28, 1), width=8, d_norm='none', minibatch_std=group)
  x = jax.random.normal(jax.random.PRNGKey(2), (8, 28, 28, 1))
  changed = x.at[1].multiply(3.0)
  before, after = (d.apply(d_vars, v, train=True) for v in (x, changed))
  delta = np.abs(np.asarray(after - before))
  assert delta[1] > 1e-4 and np.all(delta[4:] == 0)  # The other group sees nothing.
  if group:
    assert np.all(delta[[0, 2, 3]] > 1e-6)  # Example 1's group sees it.
  else:
    assert np.all(delta[[0, 2, 3]] == 0)
