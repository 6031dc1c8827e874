"""Tests for gan_jax.evaluation: Inception reference output, FID / KID / precision-recall maths."""
import jax
import numpy as np
import pytest

from gan_jax import data_dir
from gan_jax.evaluation import fid
from gan_jax.evaluation import inception


def _weights_dir():
  try:
    return data_dir.find(inception.WEIGHTS_FILE)
  except data_dir.DataUnavailableError:
    return None


needs_weights = pytest.mark.skipif(
    _weights_dir() is None,
    reason=f'{inception.WEIGHTS_FILE} not found: set GAN_JAX_DATA_DIR to the data folder')


# Inception at the size it is given (no resize), compiled as the feature path does on CPU.
apply_inception = jax.jit(inception.apply, compiler_options=inception.COMPILER_OPTIONS)


@pytest.fixture(scope='module')
def params():
  return inception.load_inception_params()


@needs_weights
@pytest.mark.parametrize('compiler_options', [inception.COMPILER_OPTIONS, None],
                         ids=['xla_kernels', 'default'])
def test_inception_matches_reference(params, compiler_options):
  from PIL import Image
  ref_dir = _weights_dir() / 'inception_fid' / 'reference'
  image = np.asarray(Image.open(ref_dir / 'elefant.jpg').convert('RGB'))
  expected = np.load(ref_dir / 'elefant_inception_output.npy').reshape(1, -1)
  run = jax.jit(inception.apply, compiler_options=compiler_options)
  out = np.asarray(run(params, image[None]))  # fed at 256x256, no resize
  assert out.shape == (1, 2048) and out.dtype == np.float32
  assert np.abs(out - expected).mean() <= 1e-5


@needs_weights
def test_every_conv_path_computes_the_same_features(params):
  # The per-layer choices (inception.pick_impl), the per-image stem and the chunks of the batch
  # are speed choices only.
  images = np.random.default_rng(1).integers(0, 256, (4, 96, 96, 3), np.uint8)
  run = jax.jit(inception.apply, static_argnames=('impl', 'stem_per_image', 'chunk'))
  base = np.asarray(run(params, images, impl='xla', stem_per_image=False, chunk=4))
  assert np.abs(base).mean() > 0.1  # Features, not zeros.
  # Every conv impl with the batched stem on the whole batch, and the CPU default ('auto') with
  # the per-image stem in chunks of 2: batching is independent of the convs' impl.
  for impl, stem_per_image, chunk in [(i, False, 4) for i in inception.CONV_IMPLS] + [
      ('auto', False, 4), ('auto', True, 2)]:
    np.testing.assert_allclose(
        run(params, images, impl=impl, stem_per_image=stem_per_image, chunk=chunk), base,
        rtol=1e-4, atol=5e-5, err_msg=f'{impl} {stem_per_image} {chunk}')


@needs_weights
def test_load_transforms_the_kernels_of_the_winograd_convs_once(params):
  # load_inception_params keeps each Winograd conv's transformed kernel beside it, so that
  # `apply` does not redo it per chunk: exactly the convs 'auto' runs as Winograd on this
  # backend, and the features are those of the transforms computed in the forward.
  convs = jax.tree_util.tree_flatten_with_path(params, is_leaf=inception._is_conv)[0]
  with_transform = {jax.tree_util.keystr(path) for path, conv in convs if 'winograd' in conv}
  expected = set()
  if jax.default_backend() == 'cpu':
    # The 3x3 convs of the stem and of the 35x35 blocks, and every 1-D conv.
    expected = {jax.tree_util.keystr(path) for path, conv in convs
                if conv['kernel'].shape[0] * conv['kernel'].shape[1] in (3, 7)
                or path[-1].key in ('conv_1', 'conv_2', 'conv_4', '3x3a', '3x3b')}
    expected -= {"['mixed_3']['3x3b']"}  # Stride 2.
  assert with_transform == expected
  plain = jax.tree.map(lambda conv: {k: v for k, v in conv.items() if k != 'winograd'}, params,
                       is_leaf=inception._is_conv)
  images = np.random.default_rng(2).integers(0, 256, (2, 80, 80, 1), np.uint8)
  np.testing.assert_allclose(apply_inception(params, images), apply_inception(plain, images),
                             rtol=1e-4, atol=5e-5)


@pytest.mark.parametrize('size', [1, 2, 5, 8, 17])
def test_pools_match_reduce_window(size):
  # The slice-based pools against lax.reduce_window's definition, down to the 1-wide maps that
  # small inputs reach; the average excludes the zero padding from the count.
  x = np.random.default_rng(size).normal(size=(2, size, size + 1, 3)).astype(np.float32)
  pad = ((0, 0), (1, 1), (1, 1), (0, 0))
  window = lambda v, init, op, stride, padding: jax.lax.reduce_window(  # noqa: E731
      v, init, op, (1, 3, 3, 1), (1, stride, stride, 1), padding)
  np.testing.assert_array_equal(inception._max_pool(x, stride=1, same=True),  # pylint: disable=protected-access
                                window(x, -np.inf, jax.lax.max, 1, pad))
  if size >= 3:
    np.testing.assert_array_equal(inception._max_pool(x),  # pylint: disable=protected-access
                                  window(x, -np.inf, jax.lax.max, 2, 'VALID'))
  counts = window(np.ones_like(x), 0.0, jax.lax.add, 1, pad)
  np.testing.assert_allclose(inception._avg_pool_exclude_pad(x),  # pylint: disable=protected-access
                             window(x, 0.0, jax.lax.add, 1, pad) / counts, rtol=1e-6, atol=1e-6)


@needs_weights
def test_grayscale_folding_matches_tiled_rgb(params):
  gray = np.random.default_rng(0).integers(0, 256, (2, 80, 80, 1), np.uint8)
  folded = np.asarray(apply_inception(params, gray))
  tiled = np.asarray(apply_inception(params, np.tile(gray, (1, 1, 1, 3))))
  np.testing.assert_allclose(folded, tiled, atol=1e-4)


def test_frechet_distance_diagonal_closed_form():
  rng = np.random.default_rng(0)
  mu1, mu2 = rng.normal(size=16), rng.normal(size=16)
  s1, s2 = rng.uniform(0.1, 2, 16), rng.uniform(0.1, 2, 16)
  expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
  got = fid.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
  np.testing.assert_allclose(got, expected, rtol=1e-8)


def test_trace_sqrt_product_equals_the_reference_codes_sqrtm():
  """The reference FID code takes Tr(sqrtm(sigma1 @ sigma2)); the symmetric form gives the same
  on full-rank covariances that do not commute."""
  import scipy.linalg
  from gan_jax.evaluation import frechet
  rng = np.random.default_rng(4)
  x, y = rng.normal(size=(400, 64)), rng.normal(size=(400, 64)) @ rng.normal(size=(64, 64))
  s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
  expected = np.trace(scipy.linalg.sqrtm(s1 @ s2)).real
  np.testing.assert_allclose(frechet.trace_sqrt_product(s1, s2), expected, rtol=1e-10)


def test_frechet_distance_identical_is_zero():
  x = np.random.default_rng(1).normal(size=(500, 32))
  mu, sigma = fid.feature_statistics(x)
  assert abs(fid.frechet_distance(mu, sigma, mu, sigma)) < 1e-6


def test_frechet_distance_singular_covariance_is_finite():
  x = np.random.default_rng(2).normal(size=(10, 32))  # fewer samples than dimensions
  y = np.random.default_rng(3).normal(size=(10, 32))
  assert np.isfinite(fid.fid_from_features(x, y))


def _features(seed, n, shift=0.0, d=64):
  # Inception features are non-negative (post-ReLU means); mimic that.
  return np.abs(np.random.default_rng(seed).normal(size=(n, d))) + shift


def test_kid_same_distribution_near_zero_and_shift_positive():
  a, b = _features(0, 400), _features(1, 400)
  mean, std = fid.kernel_inception_distance(a, b, num_subsets=20, subset_size=200)
  assert abs(mean) <= 3 * std + 1e-6
  shifted_mean, shifted_std = fid.kernel_inception_distance(
      a, _features(2, 400, shift=0.5), num_subsets=20, subset_size=200)
  assert shifted_mean > 10 * max(shifted_std, abs(mean))


def test_precision_recall_identical_and_disjoint():
  a = _features(0, 300, d=16)
  assert fid.precision_recall(a, a.copy(), chunk=128) == (1.0, 1.0)
  precision, recall = fid.precision_recall(a, _features(1, 300, shift=50.0, d=16), chunk=128)
  assert precision < 0.05 and recall < 0.05


def _inception_input(images):
  """What the feature path (`fid._features_batch`) feeds Inception: steps 1-3 of the protocol."""
  return np.asarray(fid.resize(fid.to_uint8_values(images)))


def test_feature_path_maps_to_uint8_values_and_resizes_bilinearly():
  # 0.5 in [-1, 1] is the uint8 value round(1.5 * 127.5) = 191 (half up), constant after resize.
  gray = np.full((2, 28, 28, 1), 0.5, np.float32)
  pre = _inception_input(gray)
  assert pre.shape == (2, 299, 299, 1)  # Still one channel: Inception folds the tiling in.
  np.testing.assert_allclose(pre, 191.0, atol=1e-3)
  rgb = np.random.default_rng(0).integers(0, 256, (1, 299, 299, 3), np.uint8)
  np.testing.assert_array_equal(_inception_input(rgb), rgb.astype(np.float32))  # Not resampled.
  # Upsampling is bilinear with half-pixel centres (torch's align_corners=False, pytorch-fid's
  # resize): 2 -> 4 pixels sample the input at -0.25, 0.25, 0.75, 1.25, clamped at the edges.
  a, b = 10.0, 210.0
  row = np.array([a, b], np.uint8).reshape(1, 1, 2, 1)
  up = np.asarray(fid.resize(fid.to_uint8_values(np.tile(row, (1, 2, 1, 1))), size=4))
  np.testing.assert_allclose(up[0, 0, :, 0], [a, 0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b, b],
                             rtol=1e-6)


def test_to_uint8_values_rounds_like_uint8():
  x = np.array([-1.0, -0.999, 0.0, 1.0, 1.5], np.float32).reshape(1, 1, 5, 1)
  np.testing.assert_array_equal(np.asarray(fid.to_uint8_values(x)).ravel(), [0, 0, 128, 255, 255])


@needs_weights
def test_extract_features_pads_last_batch(params):
  images = np.random.default_rng(0).integers(0, 256, (3, 75, 75, 3), np.uint8)
  # Feed at 75x75 by calling the network directly batch-by-batch vs extract_features' padding.
  direct = np.asarray(apply_inception(params, fid.resize(fid.to_uint8_values(images))))
  feats = fid.extract_features(images, params=params, batch_size=2, progress=False)
  assert feats.shape == (3, 2048)
  np.testing.assert_allclose(feats, direct, atol=1e-4)


def test_reference_statistics_cache(tmp_path):
  calls = []

  def compute():
    calls.append(1)
    return _features(0, 50, d=8)

  kw = dict(source={'dataset': 'toy', 'split': 'test', 'count': 50}, cache_dir=tmp_path)
  first = fid.reference_statistics(compute, **kw)
  second = fid.reference_statistics(compute, **kw)
  assert len(calls) == 1
  np.testing.assert_array_equal(first['sigma'], second['sigma'])
  assert first['features'].shape == (50, 8)


def test_reference_cache_key_follows_how_images_reach_the_size():
  """dcgan_seed32 pads MNIST to 32x32, dcgan at image_size 32 resizes it bilinearly: different
  reference images, so different cache entries (they once shared one)."""
  from configs import dcgan, dcgan_seed32
  from gan_jax import evaluate
  padded, resized = dcgan_seed32.get_config(), dcgan.get_config()
  resized.image_size = 32
  assert padded.dataset.resize != resized.dataset.resize and padded.image_size == 32
  reference = np.zeros((10, 32, 32, 1), np.float32)
  paths = {fid.reference_cache_path(evaluate.reference_source(c, 'test', reference))
           for c in (padded, resized)}
  assert len(paths) == 2
  # The count and the protocol version are in the key too.
  source = evaluate.reference_source(padded, 'test', reference)
  assert fid.reference_cache_path(source) != fid.reference_cache_path({**source, 'count': 11})
  assert (fid.reference_cache_path(source)
          != fid.reference_cache_path(source, version=fid.PROTOCOL_VERSION + 'x'))
