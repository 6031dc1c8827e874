"""Consistency regularisation (gan_jax/consistency.py): T is an exact edge-replicating shift (and
flip), drawn per image for the global batch; D's step adds lambda * E|D(x) - D(T(x))|^2 per
side and changes no other draw; trained with it, D's logits move less under T."""
import jax
import numpy as np
import pytest

from configs import dcgan
from gan_jax import consistency, steps
from tests.conftest import tiny
from tests.test_toolbox import _batch, _state, mnist  # noqa: F401 (mnist is a fixture)

KEY = jax.random.PRNGKey(0)
# Distinct values everywhere, non-square, so that each output pins down its shift and flip.
X = jax.random.uniform(jax.random.PRNGKey(1), (64, 9, 11, 2))
transform_jit = jax.jit(consistency.transform, static_argnames=('cr', 'axis_name'))


def _edge_shifted(image, dh, dw):
  """numpy: the image moved down by dh and right by dw, its border pixels filling the gap."""
  h, w, _ = image.shape
  rows = np.clip(np.arange(h) - dh, 0, h - 1)
  cols = np.clip(np.arange(w) - dw, 0, w - 1)
  return image[rows][:, cols]


def _which(out, image, r, flip):
  """The (dh, dw, flipped) candidates that reproduce `out` from `image`."""
  found = []
  for flipped in ((False, True) if flip else (False,)):
    source = image[:, ::-1] if flipped else image
    found += [(dh, dw, flipped) for dh in range(-r, r + 1) for dw in range(-r, r + 1)
              if np.array_equal(out, _edge_shifted(source, dh, dw))]
  return found


@pytest.mark.parametrize('flip', [False, True])
def test_transform_is_an_exact_edge_shift_per_image_within_max_shift(flip):
  cr = consistency.Consistency(real=1.0, max_shift=2, flip=flip)
  out, x = np.asarray(transform_jit(X, KEY, cr)), np.asarray(X)
  drawn = []
  for o, image in zip(out, x):
    found = _which(o, image, 2, flip)
    assert len(found) == 1, found  # Exactly one shift (and flip) in range explains the image.
    drawn.append(found[0])
  assert len({(dh, dw) for dh, dw, _ in drawn}) >= 18  # Of 25 shifts; per image, not per batch.
  flips = sum(f for _, _, f in drawn)
  assert (8 <= flips <= 56) if flip else flips == 0


def test_transform_of_the_global_batch_equals_its_shards_under_the_device_axis():
  cr = consistency.Consistency(real=1.0, max_shift=3, flip=True)
  f = lambda shard: consistency.transform(shard, KEY, cr, axis_name='batch')
  shards = X.reshape(4, -1, *X.shape[1:])
  sharded = jax.jit(jax.vmap(f, axis_name='batch'))(shards).reshape(X.shape)
  np.testing.assert_array_equal(sharded, transform_jit(X, KEY, cr))


def _d_metrics(state, batch, **cr):
  step = jax.jit(lambda s, b: steps.d_step(s, b, consistency=consistency.Consistency(**cr)))
  return {k: float(v) for k, v in step(state, batch)[1].items()}


def test_d_loss_adds_each_sides_weighted_penalty_and_keeps_every_other_draw(mnist):  # noqa: F811
  state = _state(tiny(dcgan.get_config()), mnist)
  batch = jax.tree.map(lambda x: x[0], _batch(mnist, 0))
  off = _d_metrics(state, batch)
  real = _d_metrics(state, batch, real=10.0)
  real2 = _d_metrics(state, batch, real=20.0)
  fake = _d_metrics(state, batch, fake=10.0)
  both = _d_metrics(state, batch, real=10.0, fake=10.0)
  assert off['d_cr'] == 0.0 and real['d_cr'] > 1e-6 and fake['d_cr'] > 1e-6
  for m in (real, real2, fake, both):
    # The adversarial part is untouched: the same z, fakes and logits as without the penalty.
    # Not bit-equal: with the penalty XLA fuses D's passes differently, and on AVX2-only cores
    # that moves d_real by ~1 ulp (1e-7 relative); state rngs of three other keys move d_fake by
    # 0.5-3 % and d_gap by 3-19 % relative, so 1e-6 still catches a changed draw.
    for key in ('d_real', 'd_fake', 'd_gap'):
      assert m[key] == pytest.approx(off[key], rel=1e-6, abs=1e-7)
    assert m['d_loss'] == pytest.approx(off['d_loss'] + m['d_cr'], rel=1e-5)
  assert real2['d_cr'] == pytest.approx(2 * real['d_cr'], rel=1e-5)  # Linear in lambda.
  assert both['d_cr'] == pytest.approx(real['d_cr'] + fake['d_cr'], rel=1e-5)  # Own draws.


# penalty(lambda 10) / penalty(lambda 0) after 30 D steps: 0.087-0.143 over seeds 0-5
# (`python -m tests.margins toolbox`), so a bound of 0.5 leaves 3.5x.
CR_RATIO_BOUND = 0.5


def consistency_ratio(data, seed=0):
  """E|D(x) - D(T(x))|^2 on real data after 30 D steps (G fixed) with lambda_real = 10, over the
  same after 30 steps without it, each measured by one more step's metrics (taken before its
  update) with lambda 1."""
  config = tiny(dcgan.get_config(), seed=seed, **{'optim.d_lr': 1e-3})
  start = _state(config, data)
  batches = [jax.tree.map(lambda x: x[0], _batch(data, i)) for i in range(31)]
  measure = jax.jit(lambda s, b: steps.d_step(s, b, consistency=consistency.Consistency(1.0)))
  gaps = {}
  for weight in (0.0, 10.0):
    d_step = jax.jit(lambda s, b, w=weight: steps.d_step(
        s, b, consistency=consistency.Consistency(real=w)))
    state = start
    for batch in batches[:30]:
      state, _ = d_step(state, batch)
    gaps[weight] = float(measure(state, batches[30])[1]['d_cr'])
  return gaps[10.0] / gaps[0.0]


def test_d_trained_with_the_penalty_moves_less_under_the_shift(mnist):  # noqa: F811
  assert consistency_ratio(mnist) < CR_RATIO_BOUND
