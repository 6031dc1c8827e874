"""A conv with its own backward (`models.conv`) must be lax's conv: same outputs, same
input and kernel gradients (to float32 rounding), nn.Conv's params, and lax untouched elsewhere."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from gan_jax import im2col
from gan_jax.models import conv
from gan_jax.models.dcgan import DCGANDiscriminator, SeedGenerator32
from tests.conftest import outputs_and_vjp

ATOL = 1e-5
PADDINGS = ['SAME', 'VALID', ((1, 2), (2, 1)), ((0, 3), (4, 0))]


def _vjp(fn, x, kernel, g):
  return outputs_and_vjp(fn, x, kernel, cotangent=g)


# 2 input channels: XLA's input gradient; 32 at stride 2 and 64 at stride 1 (s*s*cin >= 64):
# the sub-pixel one.
# CHUNK_BYTES = 1: the kernel gradient as a scan over one-example chunks; None: one dot.
GRID = ([(p, k, 2, hw, cin, 1) for p in PADDINGS for k in (3, 4)
         for hw, cin in (((9, 9), 2), ((7, 8), 32))]
        + [('SAME', 4, 3, (9, 8), 32, None), ('VALID', 5, 3, (9, 8), 32, None),
           ('SAME', 3, 1, (9, 8), 64, 1), (((1, 0), (2, 2)), 3, 1, (6, 7), 2, None)])


@pytest.mark.parametrize('padding,k,s,hw,cin,chunk_bytes', GRID, ids=str)
def test_matches_lax(padding, k, s, hw, cin, chunk_bytes, monkeypatch):
  if chunk_bytes:  # A scan over one-example chunks instead of one dot over the batch.
    monkeypatch.setattr(im2col, 'CHUNK_BYTES', chunk_bytes)
  kx, kk, kg = jax.random.split(jax.random.key(100 * k + 10 * s + cin), 3)
  x = jax.random.normal(kx, (3, *hw, cin))
  kernel = 0.1 * jax.random.normal(kk, (k, k, cin, 5))
  ref = lambda x, w: lax.conv_general_dilated(  # noqa: E731
      x, w, (s, s), padding, dimension_numbers=conv.DN)
  g = 0.1 * jax.random.normal(kg, ref(x, kernel).shape)
  want = _vjp(ref, x, kernel, g)
  got = _vjp(lambda x, w: conv.conv_dot_grad(x, w, (s, s), padding), x, kernel, g)
  for a, b in zip(got, want):  # output, dL/dx, dL/dkernel
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=0, atol=ATOL)


def _penalty_grads(conv_fn, x, kernel):
  """d/d(x, kernel) of an R1-like penalty: a function of grad_x of a nonlinear loss of the conv,
  so the input gradient is differentiated again towards its cotangent and the kernel."""
  def penalty(x, kernel):
    gx = jax.grad(lambda x: jnp.sum(jnp.sin(conv_fn(x, kernel))))(x)
    return jnp.sum(jnp.square(gx)) + jnp.sum(jnp.cos(gx))
  return jax.jit(jax.grad(penalty, argnums=(0, 1)))(x, kernel)


# Stride 2 with XLA's and with the sub-pixel input gradient (2 and 32 channels), cropping and
# overhanging pads, stride 1.
GRID2 = [(p, 4, 2, hw, cin) for p in ('SAME', ((0, 3), (4, 0))) for hw, cin in
         (((9, 9), 2), ((7, 8), 32))] + [(((1, 2), (2, 1)), 3, 2, (7, 8), 32),
                                          ('SAME', 3, 2, (8, 8), 32),  # D's 3x3: pads (0, 1)
                                          ('VALID', 3, 1, (9, 8), 64)]


@pytest.mark.parametrize('own_backward', [True, False])
@pytest.mark.parametrize('padding,k,s,hw,cin', GRID2, ids=str)
def test_second_derivatives_match_lax(padding, k, s, hw, cin, own_backward):
  """The input gradient's own VJP (a forward conv, and this conv's kernel gradient at the
  cotangent) is the derivative XLA takes of its transposed conv."""
  kx, kk = jax.random.split(jax.random.key(100 * k + 10 * s + cin))
  x = jax.random.normal(kx, (3, *hw, cin))
  kernel = 0.1 * jax.random.normal(kk, (k, k, cin, 5))
  want = _penalty_grads(lambda x, w: lax.conv_general_dilated(
      x, w, (s, s), padding, dimension_numbers=conv.DN), x, kernel)
  got = _penalty_grads(lambda x, w: conv.conv_dot_grad(
      x, w, (s, s), padding, own_backward=own_backward), x, kernel)
  for a, b in zip(got, want):  # d/dx, d/dkernel
    np.testing.assert_allclose(a, b, rtol=0, atol=ATOL * max(1.0, float(np.abs(b).max())))


def test_chunk_size_divides_the_batch_within_the_budget():
  assert im2col.chunk_size(256, 200_704, target=2 ** 21) == 8  # 10 fit, 8 divides 256
  assert im2col.chunk_size(64, 10, target=2 ** 21) == 64
  assert im2col.chunk_size(7, 2 ** 30) == 1


def _d_grads(conv_impl, x, variables):
  model = DCGANDiscriminator(image_size=28, width=16, conv_impl=conv_impl)

  def loss(params, x):
    logits, _ = model.apply({**variables, 'params': params}, x, train=True,
                            mutable=['batch_stats'])
    return jnp.sum(jnp.sin(logits))
  return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(variables['params'], x)


@pytest.mark.slow  # ~7-12 s: whole nets; the layer tests above are in the fast tier.
def test_dcgan_discriminator_is_the_same_function_with_either_backward(monkeypatch):
  monkeypatch.setattr(conv, 'MIN_WINDOW_BYTES', 0)  # Ours at this small size too.
  x = jax.random.normal(jax.random.key(0), (8, 28, 28, 1))
  variables = DCGANDiscriminator(image_size=28, width=16, conv_impl='xla').init(
      jax.random.key(1), x, train=False)
  # nn.Conv's param tree either way: checkpoints interchange.
  ours = DCGANDiscriminator(image_size=28, width=16, conv_impl='dot_grad').init(
      jax.random.key(1), x, train=False)
  assert jax.tree_util.tree_structure(ours) == jax.tree_util.tree_structure(variables)
  (l_xla, (gp_xla, gx_xla)) = _d_grads('xla', x, variables)
  (l_ours, (gp_ours, gx_ours)) = _d_grads('dot_grad', x, variables)
  np.testing.assert_allclose(l_ours, l_xla, rtol=1e-6)
  np.testing.assert_allclose(gx_ours, gx_xla, rtol=0, atol=ATOL)
  for a, b in zip(jax.tree_util.tree_leaves(gp_ours), jax.tree_util.tree_leaves(gp_xla)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=ATOL)


def test_strided_convs_take_their_own_first_derivatives_stride_one_only_with_enough_work(
    monkeypatch):
  calls = []  # own_backward of each conv_dot_grad call.
  monkeypatch.setattr(conv, 'conv_dot_grad', lambda *a, own_backward: calls.append(
      own_backward) or lax.conv(a[0].transpose(0, 3, 1, 2), a[1].transpose(3, 2, 0, 1), a[2],
                                a[3]).transpose(0, 2, 3, 1))
  x = jnp.ones((2, 8, 8, 32))
  make = lambda **kw: nn.Conv(  # noqa: E731
      4, (3, 3), conv_general_dilated=conv.conv_general_dilated, **kw).init(jax.random.key(0), x)
  make(strides=1)
  make(strides=2)
  assert calls == [False, True]  # 2 x 8 x 8 windows of 3 x 3 x 32 floats: below the threshold.
  monkeypatch.setattr(conv, 'MIN_WINDOW_BYTES', 2 * 8 * 8 * 3 * 3 * 32 * 4)
  for kw in (dict(strides=2, kernel_dilation=2), dict(strides=2, feature_group_count=2)):
    make(**kw)
  assert calls == [False, True]  # Not plain: lax's conv as is.
  make(strides=1)
  assert calls == [False, True, True]


@pytest.mark.parametrize('k,padding,s', [
    (3, 1, 1), (3, 'SAME', 1), (4, ((1, 2), (2, 1)), 1), (5, 'VALID', 1),
    (3, ((0, 1), (2, 1)), 1),  # odd output size: upsamples, then convs
    (3, 'SAME', 2)])  # strided: the same
def test_conv_upsampled2_is_upsample_then_conv(k, padding, s):
  kx, kk, kg = jax.random.split(jax.random.key(k), 3)
  x = jax.random.normal(kx, (2, 5, 6, 3))
  ref = nn.Conv(4, (k, k), s, padding=padding)
  params = ref.init(kk, jnp.repeat(jnp.repeat(x, 2, 1), 2, 2))
  ours = nn.Conv(4, (k, k), s, padding=padding, conv_general_dilated=conv.conv_upsampled2)
  assert jax.tree_util.tree_structure(ours.init(kk, x)) == jax.tree_util.tree_structure(params)
  up_then_conv = lambda p, x: ref.apply(p, jnp.repeat(jnp.repeat(x, 2, 1), 2, 2))  # noqa: E731
  g = jax.random.normal(kg, up_then_conv(params, x).shape)
  want = _vjp(up_then_conv, params, x, g)
  got = _vjp(ours.apply, params, x, g)
  for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=0, atol=5e-5)  # sums of 4-9 taps before the product


@pytest.mark.slow  # ~7-12 s: whole nets; the layer tests above are in the fast tier.
def test_seed_generator_is_the_same_function_with_either_impl():
  z = jax.random.normal(jax.random.key(0), (4, 100))
  variables = SeedGenerator32(conv_impl='xla').init(jax.random.key(1), z, train=False)
  assert jax.tree_util.tree_structure(SeedGenerator32(conv_impl='dot_grad').init(
      jax.random.key(1), z, train=False)) == jax.tree_util.tree_structure(variables)

  def run(impl):
    def loss(params):
      y, _ = SeedGenerator32(conv_impl=impl).apply({**variables, 'params': params}, z,
                                                   train=True, mutable=['batch_stats'])
      return jnp.sum(jnp.sin(3 * y)), y
    return jax.jit(jax.grad(loss, has_aux=True))(variables['params'])
  (grads_xla, y_xla), (grads, y) = run('xla'), run('dot_grad')
  np.testing.assert_allclose(y, y_xla, rtol=0, atol=1e-5)
  for a, b in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(grads_xla)):
    # Relative to each leaf's largest entry (1e-6 to 4e-6 measured); the conv biases before
    # BatchNorm have a true gradient of 0 and float noise up to ~1e-4, hence the floor of 20.
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * max(float(np.abs(b).max()), 20.0))


def test_pick():
  assert conv.pick('xla') is None
  assert conv.pick('dot_grad') is conv.conv_general_dilated
  assert conv.pick('auto') is (conv.conv_general_dilated if jax.default_backend() == 'cpu'
                               else None)
  with pytest.raises(ValueError, match='unknown conv impl'):
    conv.pick('cudnn')


@pytest.mark.parametrize('padding,s', [('SAME', 2), ('VALID', 1), (((1, 2), (0, 3)), 2)], ids=str)
def test_constant_planes_is_the_conv_of_the_concatenated_input(padding, s):
  """D's label planes: conv(image) plus per-plane maps equals the conv over [image, planes] in
  its output and in its image and kernel gradients (the planes are labels: no gradient)."""
  kx, kk, kg = jax.random.split(jax.random.key(s), 3)
  image = jax.random.normal(kx, (6, 9, 8, 2))
  planes = jax.nn.one_hot(jnp.array([0, 3, 3, 4, 1, 2]), 5)[:, None, None, :]
  kernel = 0.1 * jax.random.normal(kk, (4, 4, 7, 3))

  def concat(x):
    return jnp.concatenate([x, jnp.broadcast_to(planes, (*x.shape[:3], 5))], -1)
  ref = lambda x, w: lax.conv_general_dilated(concat(x), w, (s, s), padding,  # noqa: E731
                                              dimension_numbers=conv.DN)
  ours = lambda x, w: conv.constant_planes(2)(concat(x), w, (s, s), padding,  # noqa: E731
                                              dimension_numbers=conv.DN)
  g = jax.random.normal(kg, ref(image, kernel).shape)
  for a, b in zip(_vjp(ours, image, kernel, g), _vjp(ref, image, kernel, g)):
    # The kernel gradient sums ~100 products to values near 30, where float32's rounding, which
    # differs between AVX2 and AVX-512 kernels, reaches 1e-5: the tolerance follows the scale.
    np.testing.assert_allclose(a, b, rtol=0, atol=ATOL * max(1.0, float(np.abs(b).max())))


def test_a_conditional_discriminator_keeps_nn_convs_params_and_function():
  x = jax.random.normal(jax.random.key(0), (4, 28, 28, 1))
  labels = jnp.array([0, 7, 7, 29])
  model = DCGANDiscriminator(image_size=28, width=8, num_classes=30)
  variables = model.init(jax.random.key(1), x, labels, train=False)
  assert variables['params']['Conv_0']['kernel'].shape == (4, 4, 31, 8)
  with pytest.MonkeyPatch.context() as mp:  # The plain conv over [image, 30 planes].
    mp.setattr(conv, 'constant_planes', lambda channels, fn: fn)
    want = model.apply(variables, x, labels, train=False)
  np.testing.assert_allclose(model.apply(variables, x, labels, train=False), want, atol=ATOL)
