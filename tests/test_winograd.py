"""gan_jax.winograd: the transforms are exact in float64 and the conv equals XLA's in float32."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import winograd


@pytest.mark.parametrize('m,r', [(2, 3), (4, 3), (2, 5), (4, 5), (2, 7), (3, 1)])
def test_transforms_compute_the_correlation(m, r):
  at, g, bt = winograd.transforms(m, r)
  rng = np.random.default_rng(m * 10 + r)
  for _ in range(5):
    d, k = rng.normal(size=m + r - 1), rng.normal(size=r)
    np.testing.assert_allclose(at @ ((g @ k) * (bt @ d)), np.correlate(d, k, 'valid'),
                               rtol=1e-10, atol=1e-10)
  assert np.abs(bt).max() == 1.0  # Scaled rows: the input transform adds, halves, quarters.


def test_too_many_points_is_an_error():
  with pytest.raises(ValueError, match='points'):
    winograd.transforms(4, 7)


# Kernel shapes of Inception's stride-1 convs, 'same' and 'valid' padding, odd map sizes (the
# last tile overhangs).
@pytest.mark.parametrize('kh,kw,pad,tile', [
    (3, 3, 'same', 2), (3, 3, 'valid', 2), (3, 3, 'same', 4), (5, 5, 'same', 2),
    (1, 7, 'same', 2), (7, 1, 'same', 2), (1, 3, 'same', 2), (3, 1, 'valid', 4)])
def test_conv_equals_xla(kh, kw, pad, tile):
  rng = np.random.default_rng(kh * 7 + kw)
  n, h, w, cin, cout = 4, 11, 9, 5, 6
  x = jnp.asarray(rng.normal(size=(n, h, w, cin)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(kh, kw, cin, cout)), jnp.float32)
  padding = ((kh // 2, kh // 2), (kw // 2, kw // 2)) if pad == 'same' else ((0, 0), (0, 0))
  expected = jax.lax.conv_general_dilated(x, kernel, (1, 1), padding, precision='highest',
                                          dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  got = jax.jit(lambda x, k: winograd.conv(x, k, padding, tile=tile))(x, kernel)
  assert got.shape == expected.shape
  scale = float(jnp.abs(expected).max())
  np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6 * scale * tile ** 2)


def test_a_given_kernel_transform_is_the_one_conv_computes():
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(2, 9, 10, 3)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(3, 3, 3, 4)), jnp.float32)
  pads = ((1, 1), (1, 1))
  conv = jax.jit(winograd.conv, static_argnames=('padding', 'tile'))
  u = jax.jit(winograd.kernel_transform, static_argnames='tile')(kernel, tile=4)
  assert u.shape == (36, 3, 4)  # F(4, 3) per axis: 6 x 6 planes.
  np.testing.assert_allclose(conv(x, kernel, pads, tile=4, transformed=u),
                             conv(x, kernel, pads, tile=4), rtol=0, atol=1e-5)
  with pytest.raises(ValueError, match='not F'):  # A transform for another tile.
    winograd.conv(x, kernel, pads, tile=2, transformed=u)
