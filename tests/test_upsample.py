"""Upsample must be nn.ConvTranspose: same params, same outputs, same gradients, every impl."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax.linen.linear import canonicalize_padding
from jax import lax

from gan_jax import im2col
from gan_jax.models import upsample
from gan_jax.models.upsample import Upsample
from tests.conftest import outputs_and_vjp

ATOL = 1e-5
PADDINGS = ['SAME', 'VALID', ((1, 2), (2, 1)), ((0, 3), (4, 0)), 1]
FAST_IMPLS = ['subpixel', 'dot_grad']  # 'auto' is 'dot_grad' on CPU; tested below.


def _reference(features, k, s, padding, use_bias):
  # A random bias init so the bias path is actually exercised (flax's default is zeros).
  return nn.ConvTranspose(features, (k, k), (s, s), padding=padding, use_bias=use_bias,
                          kernel_init=nn.initializers.normal(0.02),
                          bias_init=nn.initializers.normal(1.0))


def _upsample(features, k, s, padding, use_bias, impl):
  return Upsample(features, k, s, padding, use_bias=use_bias, impl=impl,
                  bias_init=nn.initializers.normal(1.0))


def _outputs_and_grads(module, params, x, g):
  return outputs_and_vjp(module.apply, params, x, cotangent=g)


def _assert_trees_close(a, b, atol=ATOL):
  assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
  for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
    assert u.shape == v.shape and u.dtype == v.dtype
    np.testing.assert_allclose(u, v, rtol=0, atol=atol)


def _check_matches_conv_transpose(impls, padding, k, hw, cin, cout):
  h, w = hw
  kx, kp, kg = jax.random.split(jax.random.key(k * 100 + h), 3)
  x = jax.random.normal(kx, (2, h, w, cin), jnp.float32)
  ref = _reference(cout, k, 2, padding, use_bias=True)
  params = ref.init(kp, x)  # nn.ConvTranspose's params drive Upsample: checkpoint interchange.
  # Cotangent scaled so gradients are O(1) (kernel grads sum ~N*H*W terms): float32 rounding of
  # a differently ordered sum then stays well inside the absolute tolerance.
  g = 0.1 * jax.random.normal(kg, ref.apply(params, x).shape, jnp.float32)

  y_ref, gp_ref, gx_ref = _outputs_and_grads(ref, params, x, g)
  for impl in impls:
    y, gp, gx = _outputs_and_grads(_upsample(cout, k, 2, padding, True, impl), params, x, g)
    assert y.shape == y_ref.shape, impl
    np.testing.assert_allclose(y, y_ref, rtol=0, atol=ATOL, err_msg=impl)
    np.testing.assert_allclose(gx, gx_ref, rtol=0, atol=ATOL, err_msg=impl)
    _assert_trees_close(gp, gp_ref)  # kernel and bias gradients


@pytest.mark.parametrize('padding', PADDINGS, ids=str)
@pytest.mark.parametrize('k', [3, 4, 5])
def test_matches_conv_transpose(padding, k):
  # Odd and even sizes, height != width (a swapped axis shows), and two output channels (the
  # sub-pixel phases interleave with them). One shape for both impls keeps the module's compile
  # time down: a second grid (an odd square input, 8 -> 1 channels) doubled it.
  _check_matches_conv_transpose(FAST_IMPLS, padding, k, (5, 6), 3, 2)


@pytest.mark.parametrize('padding', PADDINGS, ids=str)
@pytest.mark.parametrize('k', [4, 5])  # An even and an odd kernel (3 is odd too: above).
def test_dot_grad_with_the_subpixel_forward_matches_conv_transpose(padding, k):
  # 16 output channels x 2 x 2 phases: wide enough for dot_grad to take the sub-pixel forward;
  # the grid above (1-2 channels) covers its lax.conv_transpose forward.
  assert 16 * 2 * 2 >= upsample.SUBPIXEL_FORWARD_MIN_WIDTH
  _check_matches_conv_transpose(['dot_grad'], padding, k, (5, 6), 8, 16)


@pytest.mark.parametrize('padding', ['SAME', 'VALID', ((0, 3), (4, 0))], ids=str)
def test_both_kernel_gradient_forms_match_conv_transpose(padding, monkeypatch):
  # dot_grad takes the strided conv's kernel gradient at stride 2 and the matmuls at stride 1;
  # both forms at stride 2 here, the matmuls over one-example batch chunks (a scan).
  monkeypatch.setattr(im2col, 'CHUNK_BYTES', 1)
  kx, kk, kg = jax.random.split(jax.random.key(7), 3)
  x = jax.random.normal(kx, (3, 5, 6, 8), jnp.float32)
  kernel = jax.random.normal(kk, (4, 4, 8, 16), jnp.float32)
  dn = ('NHWC', 'HWIO', 'NHWC')
  pad = canonicalize_padding(padding, 2)
  pads = tuple(upsample._transpose_pads(4, 2, p)  # pylint: disable=protected-access
               for p in ((pad, pad) if isinstance(pad, str) else pad))
  y, vjp = jax.vjp(lambda k: lax.conv_transpose(x, k, (2, 2), pads, dimension_numbers=dn),
                   kernel)
  g = 0.1 * jax.random.normal(kg, y.shape, jnp.float32)
  expected, = vjp(g)
  for form in (upsample._kernel_gradient,  # pylint: disable=protected-access
               upsample._kernel_gradient_strided_conv):  # pylint: disable=protected-access
    np.testing.assert_allclose(form(x, g, kernel.shape, (2, 2), pads), expected, rtol=0,
                               atol=ATOL, err_msg=form.__name__)


@pytest.mark.parametrize('k', [3, 4, 5])
def test_same_padding_doubles_size(k):
  x = jnp.zeros((1, 7, 7, 3))
  y, _ = Upsample(4, k, 2, 'SAME', impl='subpixel').init_with_output(jax.random.key(0), x)
  assert y.shape == (1, 14, 14, 4)


@pytest.mark.parametrize('impl', ['conv_transpose', 'subpixel', 'dot_grad', 'auto'])
def test_stride_one_and_three(impl):
  for s, padding in [(1, 'SAME'), (1, 'VALID'), (3, 'SAME'), (3, 'VALID')]:
    x = jax.random.normal(jax.random.key(s), (2, 5, 5, 3))
    ref = _reference(4, 3, s, padding, use_bias=True)
    params = ref.init(jax.random.key(1), x)
    y = _upsample(4, 3, s, padding, True, impl).apply(params, x)
    np.testing.assert_allclose(y, ref.apply(params, x), rtol=0, atol=ATOL)


@pytest.mark.parametrize('use_bias', [False, True])
@pytest.mark.parametrize('impl', ['conv_transpose', 'subpixel', 'dot_grad', 'auto'])
def test_param_tree_identical_to_conv_transpose(use_bias, impl):
  x = jnp.ones((2, 7, 7, 6))
  rng = jax.random.key(42)
  ours = Upsample(5, 4, 2, 'SAME', use_bias=use_bias, impl=impl).init(rng, x)
  ref = nn.ConvTranspose(5, (4, 4), (2, 2), padding='SAME', use_bias=use_bias,
                         kernel_init=nn.initializers.normal(0.02)).init(rng, x)
  # Same structure, names, shapes, dtypes and init values: no extra nesting level.
  assert set(ours['params']) == ({'kernel', 'bias'} if use_bias else {'kernel'})
  assert ours['params']['kernel'].shape == (4, 4, 6, 5)
  _assert_trees_close(ours, ref, atol=0)


def test_rejects_circular_padding():
  with pytest.raises(NotImplementedError):
    Upsample(4, 4, 2, 'CIRCULAR').init(jax.random.key(0), jnp.ones((1, 4, 4, 3)))


class _Generator(nn.Module):
  """A small DCGAN generator: dense -> 7x7x32 -> 14x14x16 (k5) -> 28x28x1 (k4)."""
  impl: str

  @nn.compact
  def __call__(self, z, train=True):
    h = nn.Dense(7 * 7 * 32, use_bias=False)(z).reshape(-1, 7, 7, 32)
    h = nn.relu(nn.BatchNorm(use_running_average=not train)(h))
    h = Upsample(16, 5, 2, impl=self.impl)(h)
    h = nn.relu(nn.BatchNorm(use_running_average=not train)(h))
    return jnp.tanh(Upsample(1, 4, 2, use_bias=True, impl=self.impl)(h))


def test_jitted_dcgan_stack_matches_and_trains():
  z = jax.random.normal(jax.random.key(0), (8, 16))
  target = jax.random.uniform(jax.random.key(1), (8, 28, 28, 1), minval=-1, maxval=1)
  variables = _Generator('conv_transpose').init(jax.random.key(2), z)

  def make_step(impl):
    model = _Generator(impl)
    tx = optax.adam(1e-3)

    def loss_fn(params, batch_stats):
      out, updates = model.apply({'params': params, 'batch_stats': batch_stats}, z,
                                 mutable=['batch_stats'])
      return jnp.mean((out - target) ** 2), (out, updates['batch_stats'])

    @jax.jit
    def step(params, batch_stats, opt_state):
      (loss, (out, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
          params, batch_stats)
      updates, opt_state = tx.update(grads, opt_state, params)
      return optax.apply_updates(params, updates), batch_stats, opt_state, loss, out, grads
    return step, tx

  results = {}
  for impl in ('conv_transpose', 'subpixel', 'dot_grad', 'auto'):
    step, tx = make_step(impl)
    params, stats = variables['params'], variables['batch_stats']
    opt_state = tx.init(params)
    losses = []
    for i in range(5):
      params, stats, opt_state, loss, out, grads = step(params, stats, opt_state)
      losses.append(float(loss))
      if i == 0:
        first = (out, grads)
    assert out.shape == (8, 28, 28, 1)
    assert losses[-1] < losses[0]
    results[impl] = first
  for impl in ('subpixel', 'dot_grad', 'auto'):
    _assert_trees_close(results[impl], results['conv_transpose'])
