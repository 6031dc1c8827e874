"""DiffAugment does what the reference does: exact shifts, clipped squares, the colour formulas,
draws per image, gradients through every op, and the same numbers on 1 or several devices."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import augment

KEY = jax.random.PRNGKey(0)
# Every behaviour below is checked under jax.jit: one compilation per policy, where running
# eagerly would compile each primitive on its own and take seconds.
augment_jit = jax.jit(augment.diff_augment, static_argnames=('policy', 'axis_name'))
# Strictly positive pixels, so that a zero in the output can only come from padding or cutout.
# Non-square, so that swapped axes show: shifts up to 2 rows and 3 columns, a cut square of
# 8 rows (even) and 11 columns (odd), the two cases of the reference's parity rule.
X = jax.random.uniform(jax.random.PRNGKey(1), (32, 16, 22, 3), minval=0.1, maxval=1.0)


def _shifted(image, dh, dw):
  """numpy: out[i, j] = image[i + dh, j + dw], zero outside."""
  h, w, _ = image.shape
  out = np.zeros_like(image)
  out[max(0, -dh):min(h, h - dh), max(0, -dw):min(w, w - dw)] = \
      image[max(0, dh):min(h, h + dh), max(0, dw):min(w, w + dw)]
  return out


def test_empty_policy_is_identity_and_unknown_names_raise():
  assert augment.diff_augment(X, KEY, '') is X
  with pytest.raises(ValueError, match='translation'):  # The message names the choices.
    augment.diff_augment(X, KEY, 'color,rotation')


def test_translation_shifts_each_image_by_its_own_integer_offset_with_zero_fill():
  out, x = np.asarray(augment_jit(X, KEY, 'translation')), np.asarray(X)
  rh, rw = 2, 3  # int(16 / 8 + 0.5), int(22 / 8 + 0.5)
  offsets = []
  for image, got in zip(x, out):
    matches = [(dh, dw) for dh in range(-rh, rh + 1) for dw in range(-rw, rw + 1)
               if np.array_equal(got, _shifted(image, dh, dw))]
    assert len(matches) == 1
    offsets.append(matches[0])
  assert len(set(offsets)) > 5  # Drawn per image, not once for the batch.
  # Both ends of [-r, r] occur (randint's upper bound is exclusive), nothing beyond.
  np.testing.assert_array_equal(np.min(offsets, 0), [-rh, -rw])
  np.testing.assert_array_equal(np.max(offsets, 0), [rh, rw])


def test_cutout_zeroes_one_clipped_square_per_image():
  out, x = np.asarray(augment_jit(X, KEY, 'cutout')), np.asarray(X)
  size_h, size_w = 8, 11  # int(16 / 2 + 0.5), int(22 / 2 + 0.5)
  corners = set()
  for image, got in zip(x, out):
    zero = got == 0
    assert np.array_equal(zero, zero[..., :1].repeat(3, -1))  # All channels alike.
    np.testing.assert_array_equal(got[~zero], image[~zero])  # Mask is 1 elsewhere, exactly.
    rows, cols = np.nonzero(zero[..., 0])
    r0, r1, c0, c1 = rows.min(), rows.max(), cols.min(), cols.max()
    assert zero[..., 0].sum() == (r1 - r0 + 1) * (c1 - c0 + 1)  # One filled rectangle.
    # Full side unless clipped at a border.
    assert r1 - r0 + 1 == size_h or (r0 == 0 or r1 == 15) and r1 - r0 + 1 < size_h
    assert c1 - c0 + 1 == size_w or (c0 == 0 or c1 == 21) and c1 - c0 + 1 < size_w
    corners.add((r0, c0))
  assert len(corners) > 5


def test_cutout_mask_equals_the_references_clamped_indices_for_every_centre():
  h, w, size_h, size_w = 16, 22, 8, 11
  # The reference's centres: [0, side + 1 - cutout_size % 2); every one of them.
  centres = np.array([(i, j) for i in range(h + 1) for j in range(w)])
  got = np.asarray(jax.jit(augment._cutout_mask)(jnp.zeros((len(centres), h, w, 1)), centres))
  got = got[..., 0]
  for (ci, cj), mask in zip(centres, got):
    expected = np.ones((h, w))
    rows = np.clip(np.arange(size_h) + ci - size_h // 2, 0, h - 1)
    cols = np.clip(np.arange(size_w) + cj - size_w // 2, 0, w - 1)
    expected[np.ix_(rows, cols)] = 0
    np.testing.assert_array_equal(mask, expected)
  drawn = np.asarray(augment._cutout_draws(KEY, 4000, h, w))
  np.testing.assert_array_equal(drawn.min(0), [0, 0])
  np.testing.assert_array_equal(drawn.max(0), [h, w - 1])


def test_color_matches_the_reference_formulas():
  x = np.asarray(X[:4], np.float64) * 2 - 1
  b, s, c = (np.array(v).reshape(4, 1, 1, 1) for v in
             ([-0.4, 0.1, 0.3, 0.0], [0.0, 0.5, 1.7, 1.0], [0.6, 1.4, 1.0, 0.9]))
  expected = x + b
  grey = expected.mean(3, keepdims=True)
  expected = (expected - grey) * s + grey
  mean = expected.mean((1, 2, 3), keepdims=True)
  expected = (expected - mean) * c + mean
  got = augment._color(jnp.asarray(x, jnp.float32),
                       *(jnp.asarray(v.ravel(), jnp.float32) for v in (b, s, c)))
  np.testing.assert_allclose(got, expected, atol=1e-6)
  draws = np.asarray(augment._color_draws(KEY, 4000, jnp.float32))
  for column, (low, high) in enumerate([(-0.5, 0.5), (0.0, 2.0), (0.5, 1.5)]):
    assert low <= draws[:, column].min() < low + 0.01 < high - 0.01 < draws[:, column].max() < high
  # A flat grey image has no saturation or contrast to change: only brightness moves it.
  shift = np.asarray(augment_jit(jnp.full_like(X, 0.2), KEY, 'color')) - 0.2
  np.testing.assert_allclose(shift, np.broadcast_to(shift[:, :1, :1, :1], shift.shape), atol=1e-6)
  assert np.all(np.abs(shift) <= 0.5) and len(np.unique(shift[:, 0, 0, 0].round(5))) == 32


@pytest.mark.parametrize('policy', list(augment.POLICIES) + ['color,translation,cutout'])
def test_gradients_flow_through_every_op(policy):
  grad = np.asarray(jax.jit(jax.grad(lambda x: augment_jit(x, KEY, policy).sum()))(X))
  assert np.all(np.isfinite(grad)) and np.any(grad != 0)
  if policy in ('translation', 'cutout'):
    # Both only move or zero pixels: d sum / dx is 1 for each pixel that reaches the output.
    kept = np.asarray(augment_jit(X, KEY, policy)) != 0
    assert set(np.unique(grad)) == {0.0, 1.0} and grad.sum() == kept.sum()


def test_ops_compose_in_fixed_order_with_independent_draws():
  # Each op's draws do not depend on which others are on, and the written order does not matter.
  step = lambda x, name: augment_jit(x, KEY, name)
  composed = step(step(step(X, 'color'), 'translation'), 'cutout')
  np.testing.assert_allclose(augment_jit(X, KEY, ' cutout,translation , color'),
                             composed, atol=1e-6)


def _sharded(x, policy, num_shards):
  """Augments `num_shards` shards of `x` under the device axis: pmap if there are enough
  devices, else vmap, whose named axis supports the same axis_index and axis_size."""
  f = lambda shard: augment.diff_augment(shard, KEY, policy, axis_name='batch')
  shards = x.reshape(num_shards, -1, *x.shape[1:])
  if jax.local_device_count() >= num_shards:
    out = jax.pmap(f, axis_name='batch')(shards)
  else:
    out = jax.jit(jax.vmap(f, axis_name='batch'))(shards)  # One compilation, not one per op.
  return out.reshape(x.shape)


def test_global_batch_equals_its_shards_augmented_under_the_device_axis():
  policy = 'color,translation,cutout'
  np.testing.assert_allclose(_sharded(X, policy, num_shards=4), augment_jit(X, KEY, policy),
                             atol=1e-6)
